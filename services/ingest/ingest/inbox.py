"""The team inbox: who works on a conversation (assignment, round-robin on handoff), private
notes, labels, canned replies, per-member read markers, and the team ingest learns from auth's
events (members) and from requests (presence). Functions flush; the caller commits."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.auth import CurrentPrincipal, Principal
from common.db import Database, SessionDep
from common.errors import AppError
from common.events import (
    ConversationNoteCreatedPayload,
    ConversationNoteCreatedV1,
    UserCreatedV1,
    UserRemovedV1,
)
from common.outbox import add_event
from ingest import repository
from ingest.conversations import update_conversation
from ingest.models import (
    CannedReply,
    Contact,
    Conversation,
    InboxSettings,
    Label,
    Message,
    TeamMember,
    outbox,
)
from ingest.settings import IngestSettings
from ingest.summaries import emit_conversation_updated

log = structlog.get_logger(__name__)

# Online = seen within this long (IngestSettings.inbox_presence_s overrides it).
PRESENCE_S = 300.0
# Presence is written at most this often per member (a busy dashboard calls often).
PRESENCE_WRITE_EVERY_S = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


# --- team members and presence ----------------------------------------------------------------


async def member_created(session: AsyncSession, event: UserCreatedV1) -> None:
    p = event.payload
    values = {"tenant_id": p.tenant_id, "role": p.role, "name": p.name, "email": p.email}
    await repository.upsert_team_member(session, p.user_id, values)


async def member_removed(
    session: AsyncSession, event: UserRemovedV1, *, window_hours: float
) -> None:
    """A member who left: gone from the team, their conversations unassigned."""
    p = event.payload
    await repository.delete_team_member(session, p.user_id)
    await repository.delete_presence(session, p.user_id)
    await repository.delete_read_markers(session, p.user_id)
    rows = await repository.lock_conversations_assigned_to(session, p.tenant_id, p.user_id)
    for conversation, _ in rows:
        conversation.assignee_id = None
        repository.touch(conversation)
    await session.flush()  # the events carry each conversation's new version
    for conversation, contact in rows:
        await emit_conversation_updated(session, conversation, contact, window_hours)


async def touch_presence(session: AsyncSession, principal: Principal) -> None:
    """The member is using the inbox now (written at most every PRESENCE_WRITE_EVERY_S)."""
    now = _now()
    await repository.upsert_presence(
        session,
        principal.tenant_id,
        principal.user_id,
        now,
        unless_seen_since=now - timedelta(seconds=PRESENCE_WRITE_EVERY_S),
    )


async def seen(principal: CurrentPrincipal, session: SessionDep) -> None:
    """A dependency: the caller is online."""
    await touch_presence(session, principal)


async def present_while(
    db: Database, principal: Principal, stream: AsyncIterator[str]
) -> AsyncIterator[str]:
    """The live stream, marking its member online while it stays open (the stream's
    heartbeats keep it flowing)."""
    last = float("-inf")
    async for chunk in stream:
        now = _now().timestamp()
        if now - last >= PRESENCE_WRITE_EVERY_S:
            last = now
            try:
                async with db.session() as session:
                    await touch_presence(session, principal)
            except Exception as exc:  # presence is a hint: the stream goes on without it
                log.warning("presence.not_recorded", error=repr(exc))
        yield chunk


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID) -> InboxSettings:
    found = await session.get(InboxSettings, tenant_id)
    return found or InboxSettings(tenant_id=tenant_id, round_robin=False)


async def put_settings(session: AsyncSession, tenant_id: uuid.UUID, *, round_robin: bool) -> None:
    await repository.upsert_inbox_settings(session, tenant_id, round_robin=round_robin)


# --- assignment ---------------------------------------------------------------------------------


async def least_busy_online(
    session: AsyncSession, tenant_id: uuid.UUID, *, presence_s: float
) -> uuid.UUID | None:
    """The member seen within `presence_s` with the fewest open or handed-off conversations
    assigned; ties go to whoever was assigned least recently (so equals take turns)."""
    since = _now() - timedelta(seconds=presence_s)
    return await repository.least_busy_online(session, tenant_id, seen_since=since)


async def _assign(
    session: AsyncSession, conversation: Conversation, user_id: uuid.UUID | None
) -> None:
    conversation.assignee_id = user_id
    repository.touch(conversation)
    if user_id is not None:
        await repository.mark_assigned(session, conversation.tenant_id, user_id, _now())


async def assign_on_handoff(
    session: AsyncSession,
    conversation: Conversation,
    contact: Contact,
    *,
    presence_s: float = PRESENCE_S,
    window_hours: float,
) -> None:
    """Round-robin (when the business enabled it): an unassigned handed-off conversation
    goes to the least busy member online; nobody online leaves it unassigned."""
    if conversation.assignee_id is not None or conversation.status != "handoff":
        return
    if not (await get_settings(session, conversation.tenant_id)).round_robin:
        return
    member = await least_busy_online(session, conversation.tenant_id, presence_s=presence_s)
    if member is None:
        log.info("handoff.nobody_online")
        return
    await _assign(session, conversation, member)
    await session.flush()
    await emit_conversation_updated(session, conversation, contact, window_hours)
    log.info("handoff.assigned", assignee_id=str(member))


async def patch_conversation(
    session: AsyncSession,
    settings: IngestSettings,
    principal: Principal,
    conversation_id: uuid.UUID,
    fields: dict[str, Any],
) -> tuple[Conversation, Contact]:
    """PATCH: `assignee_id` (null unassigns) beside `ai_enabled` and `status`. A member taking
    over (`ai_enabled: false`) an unassigned conversation is assigned to it."""
    found = await repository.get_conversation(
        session, principal.tenant_id, conversation_id, lock=True
    )
    if found is None:
        raise AppError(404, "conversation not found")
    conversation, contact = found
    before = conversation.assignee_id
    if "assignee_id" in fields:
        assignee = fields["assignee_id"]
        if assignee is not None and assignee != principal.user_id:
            member = await session.get(TeamMember, assignee)
            if member is None or member.tenant_id != principal.tenant_id:
                raise AppError(422, "assignee_id is not a member of this team")
        if assignee != before:
            await _assign(session, conversation, assignee)
    elif fields.get("ai_enabled") is False and conversation.ai_enabled and before is None:
        await _assign(session, conversation, principal.user_id)
    others_change = (
        fields.get("ai_enabled") is not None and fields["ai_enabled"] != conversation.ai_enabled
    ) or (fields.get("status") is not None and fields["status"] != conversation.status)
    conversation, contact = await update_conversation(
        session,
        settings,
        principal.tenant_id,
        conversation_id,
        ai_enabled=fields.get("ai_enabled"),
        status=fields.get("status"),
    )
    if conversation.assignee_id != before and not others_change:
        await session.flush()
        await emit_conversation_updated(
            session, conversation, contact, settings.service_window_hours
        )
    return conversation, contact


def assignee_filter(value: str, principal: Principal) -> ColumnElement[bool]:
    """`me`, `none` or a user id."""
    if value == "none":
        return repository.assigned_to(None)
    return repository.assigned_to(principal.user_id if value == "me" else uuid.UUID(value))


def label_filter(label_id: uuid.UUID) -> ColumnElement[bool]:
    return repository.labelled(label_id)


# --- per-member reading ---------------------------------------------------------------------


async def mark_read(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    if await repository.get_conversation(session, principal.tenant_id, conversation_id) is None:
        raise AppError(404, "conversation not found")
    await repository.upsert_read_marker(session, principal.user_id, conversation_id)


async def unread_counts(
    session: AsyncSession, user_id: uuid.UUID, conversations: Sequence[Conversation]
) -> dict[uuid.UUID, int]:
    """The caller's unread count per conversation: the customer's messages stored after the
    caller last read it. A member who never opened it sees the conversation's own count (the
    customer's messages since a person last answered)."""
    ids = [c.id for c in conversations]
    counts = {c.id: c.unread_count for c in conversations}
    if not ids:
        return counts
    read = await repository.read_markers(session, user_id, ids)
    for conversation_id in read:
        counts[conversation_id] = 0
    if read:
        for conversation_id, count in await repository.unread_since_read(
            session, user_id, list(read)
        ):
            counts[conversation_id] = count
    return counts


# --- notes ------------------------------------------------------------------------------------


async def add_note(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, text: str
) -> Message:
    """A private note in the thread: stored with the messages, streamed live, never sent
    (no delivery job), never the AI's history, not a message in analytics (its own event)."""
    found = await repository.get_conversation(session, principal.tenant_id, conversation_id)
    if found is None:
        raise AppError(404, "conversation not found")
    conversation, _ = found
    note = Message(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction="internal",
        author="agent",
        author_id=principal.user_id,
        type="note",
        text=text,
        status="stored",
        status_rank=0,
        created_at=_now(),
    )
    session.add(note)
    await session.flush()
    await add_event(
        session,
        outbox,
        ConversationNoteCreatedV1(
            tenant_id=principal.tenant_id,
            payload=ConversationNoteCreatedPayload(
                id=note.id,
                conversation_id=conversation.id,
                author_id=principal.user_id,
                text=text,
                created_at=note.created_at,
            ),
        ),
    )
    return note


# --- labels -----------------------------------------------------------------------------------


async def create_label(session: AsyncSession, tenant_id: uuid.UUID, name: str, color: str) -> Label:
    created = await repository.insert_label(session, tenant_id, name, color)
    if created is None:
        raise AppError(409, f"a label named {name!r} exists already")
    return created


async def delete_label(session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID) -> None:
    """The label leaves every conversation that carried it."""
    if await repository.delete_label(session, tenant_id, label_id) is None:
        raise AppError(404, "label not found")


async def set_labels(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    label_ids: Sequence[uuid.UUID],
) -> tuple[Conversation, Contact]:
    found = await repository.get_conversation(session, tenant_id, conversation_id, lock=True)
    if found is None:
        raise AppError(404, "conversation not found")
    wanted = set(label_ids)
    known = await repository.known_label_ids(session, tenant_id, wanted)
    if unknown := wanted - known:
        raise AppError(422, f"unknown label_ids: {', '.join(sorted(map(str, unknown)))}")
    await repository.clear_conversation_labels(session, conversation_id)
    if wanted:
        await repository.add_conversation_labels(session, conversation_id, wanted)
    repository.touch(found[0])
    await session.flush()
    return found


async def labels_of(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Label]]:
    result: dict[uuid.UUID, list[Label]] = {i: [] for i in conversation_ids}
    if not conversation_ids:
        return result
    for conversation_id, label in await repository.labels_of_conversations(
        session, conversation_ids
    ):
        result[conversation_id].append(label)
    return result


# --- canned replies ---------------------------------------------------------------------------


async def create_canned(
    session: AsyncSession, tenant_id: uuid.UUID, shortcut: str, text: str
) -> CannedReply:
    created = await repository.insert_canned(session, tenant_id, shortcut, text)
    if created is None:
        raise AppError(409, f"the shortcut /{shortcut} is taken")
    return created


async def _canned(session: AsyncSession, tenant_id: uuid.UUID, reply_id: uuid.UUID) -> CannedReply:
    found = await repository.lock_canned(session, tenant_id, reply_id)
    if found is None:
        raise AppError(404, "canned reply not found")
    return found


async def update_canned(
    session: AsyncSession, tenant_id: uuid.UUID, reply_id: uuid.UUID, shortcut: str, text: str
) -> CannedReply:
    reply = await _canned(session, tenant_id, reply_id)
    try:
        # A savepoint: a shortcut taken meanwhile is a 409, and the request's transaction lives.
        async with session.begin_nested():
            reply.shortcut, reply.text, reply.updated_at = shortcut, text, _now()
            await session.flush()
    except IntegrityError as exc:
        raise AppError(409, f"the shortcut /{shortcut} is taken") from exc
    return reply


async def delete_canned(session: AsyncSession, tenant_id: uuid.UUID, reply_id: uuid.UUID) -> None:
    await session.delete(await _canned(session, tenant_id, reply_id))
    await session.flush()
