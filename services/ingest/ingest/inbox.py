"""The team inbox: who works on a conversation (assignment, round-robin on handoff), private
notes, labels, canned replies, per-member read markers, and the team ingest learns from auth's
events (members) and from requests (presence). Functions flush; the caller commits."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
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
from common.pagination import PageQuery, keyset, trim_page
from ingest import repository
from ingest.conversations import update_conversation
from ingest.models import (
    CannedReply,
    Contact,
    Conversation,
    ConversationLabel,
    ConversationRead,
    InboxSettings,
    Label,
    Message,
    TeamMember,
    TeamPresence,
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
    await session.execute(
        insert(TeamMember)
        .values(user_id=p.user_id, **values)
        .on_conflict_do_update(index_elements=[TeamMember.user_id], set_=values)
    )


async def member_removed(
    session: AsyncSession, event: UserRemovedV1, *, window_hours: float
) -> None:
    """A member who left: gone from the team, their conversations unassigned."""
    p = event.payload
    await session.execute(delete(TeamMember).where(TeamMember.user_id == p.user_id))
    await session.execute(delete(TeamPresence).where(TeamPresence.user_id == p.user_id))
    await session.execute(delete(ConversationRead).where(ConversationRead.user_id == p.user_id))
    rows = (
        await session.execute(
            repository.conversations(p.tenant_id)
            .where(Conversation.assignee_id == p.user_id)
            .with_for_update(of=Conversation)
        )
    ).all()
    for row in rows:
        row[0].assignee_id = None
        repository.touch(row[0])
    await session.flush()  # the events carry each conversation's new version
    for row in rows:
        await emit_conversation_updated(session, row[0], row[1], window_hours)


async def touch_presence(session: AsyncSession, principal: Principal) -> None:
    """The member is using the inbox now (written at most every PRESENCE_WRITE_EVERY_S)."""
    now = _now()
    stmt = insert(TeamPresence).values(
        user_id=principal.user_id, tenant_id=principal.tenant_id, last_seen_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TeamPresence.user_id],
            set_={"last_seen_at": now, "tenant_id": principal.tenant_id},
            where=TeamPresence.last_seen_at < now - timedelta(seconds=PRESENCE_WRITE_EVERY_S),
        )
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
    await session.execute(
        insert(InboxSettings)
        .values(tenant_id=tenant_id, round_robin=round_robin)
        .on_conflict_do_update(
            index_elements=[InboxSettings.tenant_id], set_={"round_robin": round_robin}
        )
    )


# --- assignment ---------------------------------------------------------------------------------


async def least_busy_online(
    session: AsyncSession, tenant_id: uuid.UUID, *, presence_s: float
) -> uuid.UUID | None:
    """The member seen within `presence_s` with the fewest open or handed-off conversations
    assigned; ties go to whoever was assigned least recently (so equals take turns)."""
    busy = (
        select(func.count())
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.assignee_id == TeamMember.user_id,
            Conversation.status != "resolved",
        )
        .correlate(TeamMember)
        .scalar_subquery()
    )
    since = _now() - timedelta(seconds=presence_s)
    return await session.scalar(
        select(TeamMember.user_id)
        .join(TeamPresence, TeamPresence.user_id == TeamMember.user_id)
        .where(
            TeamMember.tenant_id == tenant_id,
            TeamPresence.tenant_id == tenant_id,
            TeamPresence.last_seen_at >= since,
        )
        .order_by(busy, TeamMember.last_assigned_at.asc().nulls_first(), TeamMember.user_id)
        .limit(1)
        .with_for_update(of=TeamMember)
    )


async def _assign(
    session: AsyncSession, conversation: Conversation, user_id: uuid.UUID | None
) -> None:
    conversation.assignee_id = user_id
    repository.touch(conversation)
    if user_id is not None:
        await session.execute(
            update(TeamMember)
            .where(TeamMember.user_id == user_id, TeamMember.tenant_id == conversation.tenant_id)
            .values(last_assigned_at=_now())
        )


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
    if value == "none":
        return Conversation.assignee_id.is_(None)
    user_id = principal.user_id if value == "me" else uuid.UUID(value)
    return Conversation.assignee_id == user_id


def label_filter(label_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(
        ConversationLabel.conversation_id == Conversation.id,
        ConversationLabel.label_id == label_id,
    )


# --- per-member reading ---------------------------------------------------------------------


async def mark_read(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> None:
    if await repository.get_conversation(session, principal.tenant_id, conversation_id) is None:
        raise AppError(404, "conversation not found")
    now = func.now()
    await session.execute(
        insert(ConversationRead)
        .values(user_id=principal.user_id, conversation_id=conversation_id, last_read_at=now)
        .on_conflict_do_update(
            index_elements=[ConversationRead.user_id, ConversationRead.conversation_id],
            set_={"last_read_at": now},
        )
    )


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
    read = dict(
        (
            await session.execute(
                select(ConversationRead.conversation_id, ConversationRead.last_read_at).where(
                    ConversationRead.user_id == user_id, ConversationRead.conversation_id.in_(ids)
                )
            )
        ).all()
    )
    for conversation_id in read:
        counts[conversation_id] = 0
    if read:
        rows = await session.execute(
            select(Message.conversation_id, func.count())
            .join(
                ConversationRead,
                (ConversationRead.conversation_id == Message.conversation_id)
                & (ConversationRead.user_id == user_id),
            )
            .where(
                Message.conversation_id.in_(list(read)),
                Message.direction == "inbound",
                Message.stored_at > ConversationRead.last_read_at,
            )
            .group_by(Message.conversation_id)
        )
        for conversation_id, count in rows.all():
            counts[conversation_id] = int(count)
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


def _label_count() -> Any:
    return (
        select(func.count())
        .where(ConversationLabel.label_id == Label.id)
        .correlate(Label)
        .scalar_subquery()
    )


async def list_labels(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[tuple[Label, int]], str | None]:
    stmt = keyset(select(Label, _label_count()).where(Label.tenant_id == tenant_id), page,
                  Label.name, Label.id)  # fmt: skip
    rows = (await session.execute(stmt)).all()
    labels: list[tuple[Label, int]] = [(r[0], int(r[1])) for r in rows]
    return trim_page(labels, page.limit, lambda r: (r[0].name, r[0].id))


async def create_label(session: AsyncSession, tenant_id: uuid.UUID, name: str, color: str) -> Label:
    created = await session.scalar(
        insert(Label)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, name=name, color=color)
        .on_conflict_do_nothing()
        .returning(Label)
    )
    if created is None:
        raise AppError(409, f"a label named {name!r} exists already")
    label: Label = created
    return label


async def delete_label(session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID) -> None:
    """The label leaves every conversation that carried it."""
    deleted = await session.scalar(
        delete(Label).where(Label.tenant_id == tenant_id, Label.id == label_id).returning(Label.id)
    )
    if deleted is None:
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
    known = set(
        await session.scalars(
            select(Label.id).where(Label.tenant_id == tenant_id, Label.id.in_(wanted))
        )
    )
    if unknown := wanted - known:
        raise AppError(422, f"unknown label_ids: {', '.join(sorted(map(str, unknown)))}")
    await session.execute(
        delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation_id)
    )
    if wanted:
        await session.execute(
            insert(ConversationLabel),
            [{"conversation_id": conversation_id, "label_id": i} for i in wanted],
        )
    repository.touch(found[0])
    await session.flush()
    return found


async def labels_of(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Label]]:
    result: dict[uuid.UUID, list[Label]] = {i: [] for i in conversation_ids}
    if not conversation_ids:
        return result
    rows = await session.execute(
        select(ConversationLabel.conversation_id, Label)
        .join(Label, Label.id == ConversationLabel.label_id)
        .where(ConversationLabel.conversation_id.in_(list(conversation_ids)))
        .order_by(Label.name)
    )
    for conversation_id, label in rows.all():
        result[conversation_id].append(label)
    return result


# --- canned replies ---------------------------------------------------------------------------


async def list_canned(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[CannedReply], str | None]:
    stmt = keyset(
        select(CannedReply).where(CannedReply.tenant_id == tenant_id), page, CannedReply.shortcut
    )
    rows: list[CannedReply] = list(await session.scalars(stmt))
    return trim_page(rows, page.limit, lambda r: (r.shortcut,))


async def create_canned(
    session: AsyncSession, tenant_id: uuid.UUID, shortcut: str, text: str
) -> CannedReply:
    created = await session.scalar(
        insert(CannedReply)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, shortcut=shortcut, text=text)
        .on_conflict_do_nothing()
        .returning(CannedReply)
    )
    if created is None:
        raise AppError(409, f"the shortcut /{shortcut} is taken")
    reply: CannedReply = created
    return reply


async def _canned(session: AsyncSession, tenant_id: uuid.UUID, reply_id: uuid.UUID) -> CannedReply:
    found = await session.scalar(
        select(CannedReply)
        .where(CannedReply.tenant_id == tenant_id, CannedReply.id == reply_id)
        .with_for_update()
    )
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
