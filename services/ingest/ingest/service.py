"""Business functions of ingest. They flush; the caller's unit of work commits."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from common.errors import AppError
from common.events import (
    AutoReplyV1,
    ContactSummary,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    ConversationSummary,
    ConversationUpdatedV1,
    Envelope,
    HandoffRequestedV1,
    HistoryItem,
    MessageMediaPendingPayload,
    MessageMediaPendingV1,
    MessageOutboundQueuedPayload,
    MessageOutboundQueuedV1,
    MessageStatusUpdatedPayload,
    MessageStatusUpdatedV1,
    MessageSummary,
    ReplyGeneratedV1,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedPayload,
)
from common.logging import get_correlation_id
from common.outbox import add_event, add_events
from ingest import csat, inbox, repository, templates
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient
from ingest.models import (
    Channel,
    Contact,
    Conversation,
    DeliveryAttempt,
    Message,
    PendingStatus,
    outbox,
)
from ingest.normalize import media_summary, message_context, message_text, preview
from ingest.settings import IngestSettings
from ingest.verification import SANDBOX_PREFIX, sandbox_phone_number_id, verify_live_number

log = structlog.get_logger(__name__)

UNKNOWN_NUMBER = Counter(
    "ingest_unknown_number_total", "Webhook items for a number no tenant connected", ["kind"]
)
MESSAGES_STORED = Counter("ingest_messages_stored_total", "Messages stored", ["direction"])

# The hot path never needs Meta's raw object back (it is the largest column): not loaded.
_WITHOUT_RAW = defer(Message.raw, raiseload=True)

# Statuses only move forward. `failed` sits above `sent` (a send that failed) and below
# `delivered`, so a late success for the same wamid still wins (docs/whatsapp.md, "Sending").
STATUS_RANK = {"queued": 0, "sent": 10, "failed": 15, "delivered": 20, "read": 30, "played": 40}


# --- channels --------------------------------------------------------------------------------


async def connect_channel(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cipher: TokenCipher,
    graph: GraphClient,
    *,
    phone_number_id: str | None,
    display_phone_number: str | None,
    waba_id: str | None,
    access_token: str | None,
) -> Channel:
    """A live channel (with a token) is stored only once Meta confirmed that the token reads
    the number and that the number is the account's; a sandbox gets an id of ours, so it can
    never hold a real number (a client's `phone_number_id` for it is ignored)."""
    verified_at = None
    if access_token:
        if not phone_number_id or phone_number_id.startswith(SANDBOX_PREFIX):
            raise AppError(422, "a live channel needs Meta's phone_number_id")
        # Before any database work: no connection is held while Meta answers.
        verified = await verify_live_number(
            graph, phone_number_id=phone_number_id, waba_id=waba_id, token=access_token
        )
        display_phone_number = verified.display_phone_number or display_phone_number
        verified_at = datetime.now(UTC)
    else:
        phone_number_id = sandbox_phone_number_id()
        waba_id = None
    channel_id = await session.scalar(
        insert(Channel)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            waba_id=waba_id,
            access_token_encrypted=cipher.encrypt(access_token) if access_token else None,
            verified_at=verified_at,
        )
        .on_conflict_do_nothing(
            index_elements=["phone_number_id"], index_where=sql("deleted_at IS NULL")
        )
        .returning(Channel.id)
    )
    if channel_id is None:
        raise AppError(409, "this WhatsApp number is already connected to a business")
    channel = await session.get(Channel, channel_id)
    assert channel is not None
    log.info("channel.connected", channel_id=str(channel.id), mode=channel.mode)
    return channel


async def delete_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> None:
    """Disconnect: the number stops routing here; its conversations and messages stay."""
    channel = await repository.get_channel(session, tenant_id, channel_id)
    if channel is None:
        raise AppError(404, "channel not found")
    channel.deleted_at = datetime.now(UTC)
    await session.flush()


# --- summaries (API shapes and event payloads) -----------------------------------------------


def contact_summary(contact: Contact) -> ContactSummary:
    return ContactSummary(id=contact.id, wa_id=contact.wa_id, name=contact.name)


def window_closes_at(
    last_inbound_at: datetime | None, window_hours: float, now: datetime | None = None
) -> datetime | None:
    """When the customer-service window closes; None when it is closed or was never open."""
    if last_inbound_at is None:
        return None
    closes = last_inbound_at + timedelta(hours=window_hours)
    return closes if closes > (now or datetime.now(UTC)) else None


def conversation_summary(
    conversation: Conversation, contact: Contact, window_hours: float
) -> ConversationSummary:
    return ConversationSummary(
        id=conversation.id,
        channel_id=conversation.channel_id,
        contact=contact_summary(contact),
        status=conversation.status,
        ai_enabled=conversation.ai_enabled,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        unread_count=conversation.unread_count,
        last_inbound_at=conversation.last_inbound_at,
        handoff_reason=conversation.handoff_reason,
        window_closes_at=window_closes_at(conversation.last_inbound_at, window_hours),
        assignee_id=conversation.assignee_id,
        csat=csat.rating(conversation),
        version=conversation.version,
    )


def message_summary(message: Message) -> MessageSummary:
    return MessageSummary(
        id=message.id,
        conversation_id=message.conversation_id,
        wamid=message.wamid,
        direction=message.direction,
        author=message.author,
        type=message.type,
        text=message.text,
        media=message.media,
        context=message.context,
        reaction=message.reaction,
        sources=message.sources or [],
        status=message.status,
        error=message.error,
        created_at=message.created_at,
    )


def _stored_event(
    channel: Channel,
    conversation: Conversation,
    contact: Contact,
    message: Message,
    history: list[Message],
    correlation_id: str | None,
    *,
    csat_reply: bool = False,
) -> ConversationMessageStoredV1:
    return ConversationMessageStoredV1(
        tenant_id=conversation.tenant_id,
        correlation_id=correlation_id,
        payload=ConversationMessageStoredPayload(
            conversation_id=conversation.id,
            channel_id=channel.id,
            phone_number_id=channel.phone_number_id,
            contact=contact_summary(contact),
            message=message_summary(message),
            conversation_status=conversation.status,
            ai_enabled=conversation.ai_enabled,
            history=[
                HistoryItem(
                    direction=m.direction,
                    author=m.author,
                    type=m.type,
                    text=m.text,
                    created_at=m.created_at,
                )
                for m in history
            ],
            csat_reply=csat_reply,
        ),
    )


async def _emit_stored(
    session: AsyncSession,
    settings: IngestSettings,
    channel: Channel,
    conversation: Conversation,
    contact: Contact,
    message: Message,
) -> None:
    history = await repository.recent_history(
        session,
        conversation.tenant_id,
        conversation.id,
        before=message,
        limit=settings.history_messages,
    )
    event = _stored_event(channel, conversation, contact, message, history, get_correlation_id())
    await add_event(session, outbox, event)


async def emit_conversation_updated(
    session: AsyncSession, conversation: Conversation, contact: Contact, window_hours: float
) -> None:
    await add_event(
        session,
        outbox,
        ConversationUpdatedV1(
            tenant_id=conversation.tenant_id,
            payload=conversation_summary(conversation, contact, window_hours),
        ),
    )


async def emit_status_updated(session: AsyncSession, tenant_id: uuid.UUID, **payload: Any) -> None:
    """The one place a message's status change becomes an event (delivery, Meta's statuses,
    media)."""
    await add_event(
        session,
        outbox,
        MessageStatusUpdatedV1(tenant_id=tenant_id, payload=MessageStatusUpdatedPayload(**payload)),
    )


# --- inbound ---------------------------------------------------------------------------------


async def store_inbound_message(
    session: AsyncSession, settings: IngestSettings, received: WhatsAppMessageReceivedV1
) -> Message | None:
    """One message: see `store_inbound_batch`."""
    stored = await store_inbound_batch(session, settings, [received])
    return stored[0] if stored else None


def stored_wamids(keys: Sequence[tuple[uuid.UUID, str]]) -> Select[uuid.UUID, str | None]:
    """Which of these (tenant, wamid) are stored already. Tenant first, so the lookup is an
    index search on the unique (tenant_id, wamid) index, not a scan of every tenant's
    messages; the caller keeps only exact pairs."""
    return select(Message.tenant_id, Message.wamid).where(
        Message.tenant_id.in_(sorted({t for t, _ in keys})),
        Message.wamid.in_(sorted({w for _, w in keys})),
    )


async def store_inbound_batch(
    session: AsyncSession, settings: IngestSettings, batch: Sequence[WhatsAppMessageReceivedV1]
) -> list[Message]:
    """Route by number, upsert contacts and conversations, store each message once per wamid,
    with a handful of statements for the whole batch (ingest's hot path).

    Unknown numbers and wamids already stored (redeliveries) are skipped. Rows are locked in a
    fixed order (contacts by key, conversations by id), so concurrent batches cannot deadlock.
    """
    numbers = {e.payload.phone_number_id for e in batch}
    channels = {
        c.phone_number_id: c
        for c in await session.scalars(
            select(Channel).where(
                Channel.phone_number_id.in_(numbers), Channel.deleted_at.is_(None)
            )
        )
    }
    items: list[tuple[Channel, WhatsAppMessageReceivedV1]] = []
    seen: set[tuple[uuid.UUID, str]] = set()
    for event in batch:
        channel = channels.get(event.payload.phone_number_id)
        if channel is None:
            UNKNOWN_NUMBER.labels("message").inc()
            log.warning("inbound.unknown_number", phone_number_id=event.payload.phone_number_id)
            continue
        key = (channel.tenant_id, event.payload.wamid)
        if key not in seen:
            seen.add(key)
            items.append((channel, event))
    if not items:
        return []
    keys = [(c.tenant_id, e.payload.wamid) for c, e in items]
    existing = {(row.tenant_id, row.wamid) for row in await session.execute(stored_wamids(keys))}
    items = [(c, e) for c, e in items if (c.tenant_id, e.payload.wamid) not in existing]
    if not items:
        return []
    contacts = await _upsert_contacts(session, items)
    # Rating taps go to the conversation that asked (resolved: it stays so), not to an
    # active one; the rest find (or open) their conversation as usual.
    answers = await _csat_answers(session, items, contacts)
    plain = [item for i, item in enumerate(items) if i not in answers]
    conversations = await _active_conversations(session, settings, plain, contacts) if plain else {}

    rows: list[dict[str, Any]] = []
    answer_of: dict[uuid.UUID, csat.Answer] = {}
    for i, (channel, event) in enumerate(items):
        r = event.payload
        contact = contacts[(channel.tenant_id, _sender(r))]
        row_id = uuid.uuid4()
        if i in answers:
            conversation = answers[i].conversation
            answer_of[row_id] = answers[i]
        else:
            conversation = conversations[(channel.id, contact.id)]
        rows.append(
            {
                "id": row_id,
                "tenant_id": channel.tenant_id,
                "conversation_id": conversation.id,
                "channel_id": channel.id,
                "wamid": r.wamid,
                "direction": "inbound",
                "author": "customer",
                "type": r.type,
                "text": message_text(r.type, r.message),
                "media": media_summary(r.type, r.message),
                "context": message_context(r.message),
                "raw": {"message": r.message, "errors": r.errors} if r.errors else r.message,
                "status": "received",
                "created_at": r.timestamp,
            }
        )
    # executemany ("insertmanyvalues"): one compiled statement, whatever the batch size.
    table = Message.__table__
    inserted = set(
        (
            await session.execute(
                insert(table)
                .on_conflict_do_nothing(index_elements=["tenant_id", "wamid"])
                .returning(table.c.id),
                rows,
            )
        ).scalars()
    )
    messages = {
        m.id: m
        for m in await session.scalars(
            select(Message).where(Message.id.in_(inserted)).options(_WITHOUT_RAW)
        )
    }
    stored: list[tuple[Channel, WhatsAppMessageReceivedV1, Message]] = [
        (channel, event, messages[row["id"]])
        for (channel, event), row in zip(items, rows, strict=True)
        if row["id"] in messages
    ]
    # Oldest first: the newest message of a conversation decides its preview.
    stored.sort(key=lambda s: (s[2].created_at, s[2].id))
    now = datetime.now(UTC)
    by_id = {c.id: c for c in conversations.values()}
    by_id |= {a.conversation.id: a.conversation for a in answers.values()}
    rated: list[Envelope] = []
    for channel, event, message in stored:
        conversation = by_id[message.conversation_id]
        if message.type == "reaction":
            await _attach_reaction(session, channel.tenant_id, event.payload.message, message.text)
        if message.created_at >= conversation.last_message_at:
            conversation.last_message_at = message.created_at
            conversation.last_message_preview = preview(message.type, message.text)
        answer = answer_of.get(message.id)
        if answer is not None:
            received = await csat.record_answer(session, answer, message, event.correlation_id)
            if received is not None:
                rated.append(received)
        else:  # a rating is no work waiting for the team
            conversation.unread_count += 1
        if (
            conversation.last_inbound_at is None
            or message.created_at > conversation.last_inbound_at
        ):
            conversation.last_inbound_at = message.created_at
        repository.touch(conversation, now)
    await session.flush()

    history = await _histories(session, settings, [m for _, _, m in stored])
    events: list[Envelope] = []
    contact_by_id = {c.id: c for c in contacts.values()}
    updated: dict[uuid.UUID, tuple[Conversation, str | None]] = {}
    for channel, event, message in stored:
        conversation = by_id[message.conversation_id]
        contact = contact_by_id[conversation.contact_id]
        cid = event.correlation_id
        events.append(
            _stored_event(
                channel,
                conversation,
                contact,
                message,
                history[message.id],
                cid,
                csat_reply=message.id in answer_of,
            )
        )
        updated[conversation.id] = (conversation, cid)
        if message.media and message.media.get("status") == "pending":
            events.append(
                MessageMediaPendingV1(
                    tenant_id=channel.tenant_id,
                    correlation_id=cid,
                    payload=MessageMediaPendingPayload(message_id=message.id),
                )
            )
        MESSAGES_STORED.labels("inbound").inc()
        log.info("inbound.stored", wamid=message.wamid, type=message.type, correlation_id=cid)
    for conversation, cid in updated.values():
        contact = contact_by_id[conversation.contact_id]
        events.append(
            ConversationUpdatedV1(
                tenant_id=conversation.tenant_id,
                correlation_id=cid,
                payload=conversation_summary(conversation, contact, settings.service_window_hours),
            )
        )
    await add_events(session, outbox, events + rated)
    return [m for _, _, m in stored]


async def _csat_answers(
    session: AsyncSession,
    items: list[tuple[Channel, WhatsAppMessageReceivedV1]],
    contacts: dict[tuple[uuid.UUID, str], Contact],
) -> dict[int, csat.Answer]:
    """The items that answer a rating request (by their index), with the request."""
    answers: dict[int, csat.Answer] = {}
    for i, (channel, event) in enumerate(items):
        score = csat.answer_score(event.payload.type, event.payload.message)
        if score is None:
            continue
        contact = contacts[(channel.tenant_id, _sender(event.payload))]
        answer = await csat.find_request(session, channel.id, contact.id, score)
        if answer is not None:
            answers[i] = answer
    return answers


def _sender(received: WhatsAppMessageReceivedPayload) -> str:
    sender = received.contact
    return (
        (sender.wa_id or sender.user_id if sender else None)
        or _str(received.message.get("from"))
        or "unknown"
    )


async def _upsert_contacts(
    session: AsyncSession, items: list[tuple[Channel, WhatsAppMessageReceivedV1]]
) -> dict[tuple[uuid.UUID, str], Contact]:
    merged: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for channel, event in sorted(items, key=lambda i: i[1].payload.timestamp):
        r = event.payload
        key = (channel.tenant_id, _sender(r))
        row = merged.setdefault(
            key,
            {
                "id": uuid.uuid4(),
                "tenant_id": key[0],
                "wa_id": key[1],
                "user_id": None,
                "username": None,
                "name": None,
                "first_seen_at": r.timestamp,
                "last_seen_at": r.timestamp,
            },
        )
        if r.contact is not None:
            # The profile name follows the customer's latest message.
            row["name"] = r.contact.name or row["name"]
            row["user_id"] = r.contact.user_id or row["user_id"]
            row["username"] = r.contact.username or row["username"]
        row["first_seen_at"] = min(row["first_seen_at"], r.timestamp)
        row["last_seen_at"] = max(row["last_seen_at"], r.timestamp)
    # executemany ("insertmanyvalues"): one cached statement whatever the batch size; rows go
    # in key order, so concurrent batches lock contacts in the same order.
    table = Contact.__table__
    stmt = insert(table)
    excluded = stmt.excluded
    ids = list(
        (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "wa_id"],
                    set_={
                        "name": func.coalesce(excluded.name, table.c.name),
                        "user_id": func.coalesce(excluded.user_id, table.c.user_id),
                        "username": func.coalesce(excluded.username, table.c.username),
                        "first_seen_at": func.least(table.c.first_seen_at, excluded.first_seen_at),
                        "last_seen_at": func.greatest(table.c.last_seen_at, excluded.last_seen_at),
                    },
                ).returning(table.c.id),
                [merged[k] for k in sorted(merged, key=str)],
            )
        ).scalars()
    )
    contacts = await session.scalars(
        select(Contact).where(Contact.id.in_(ids)).execution_options(populate_existing=True)
    )
    return {(c.tenant_id, c.wa_id): c for c in contacts}


async def _active_conversations(
    session: AsyncSession,
    settings: IngestSettings,
    items: list[tuple[Channel, WhatsAppMessageReceivedV1]],
    contacts: dict[tuple[uuid.UUID, str], Contact],
) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
    """Each (channel, contact)'s open or handed-off conversation, locked; else a reopened or a
    new one. The partial unique index keeps it to one under concurrency."""
    first_at: dict[tuple[uuid.UUID, uuid.UUID], tuple[Channel, datetime]] = {}
    for channel, event in items:
        pair = (channel.id, contacts[(channel.tenant_id, _sender(event.payload))].id)
        at = event.payload.timestamp
        if pair not in first_at or at < first_at[pair][1]:
            first_at[pair] = (channel, at)
    pairs = list(first_at)

    async def active(
        wanted: list[tuple[uuid.UUID, uuid.UUID]],
    ) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
        found = await session.scalars(
            select(Conversation)
            .where(
                tuple_(Conversation.channel_id, Conversation.contact_id).in_(wanted),
                Conversation.status != "resolved",
            )
            .order_by(Conversation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {(c.channel_id, c.contact_id): c for c in found}

    result = await active(pairs)
    missing = [p for p in pairs if p not in result]
    if missing and settings.reopen_resolved_conversations:
        resolved = await session.scalars(
            select(Conversation)
            .where(tuple_(Conversation.channel_id, Conversation.contact_id).in_(missing))
            .order_by(Conversation.id)
            .with_for_update()
        )
        latest: dict[tuple[uuid.UUID, uuid.UUID], Conversation] = {}
        for c in resolved:
            pair = (c.channel_id, c.contact_id)
            if pair not in latest or c.last_message_at > latest[pair].last_message_at:
                latest[pair] = c
        for pair, c in latest.items():
            # Its version goes up with the message stored in it, in this transaction.
            c.status = "open"
            result[pair] = c
        await session.flush()
        missing = [p for p in missing if p not in result]
    if missing:
        await session.execute(
            insert(Conversation.__table__).on_conflict_do_nothing(
                index_elements=["channel_id", "contact_id"],
                # Literal, as in the index: a bound parameter cannot prove the index applies
                # once Postgres switches the prepared statement to a generic plan.
                index_where=sql("status <> 'resolved'"),
            ),
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": first_at[p][0].tenant_id,
                    "channel_id": p[0],
                    "contact_id": p[1],
                    "status": "open",
                    "ai_enabled": settings.ai_enabled_default,
                    "last_message_at": first_at[p][1],
                    # The message that opens it is stored in this transaction, whose touch
                    # makes this version 1.
                    "version": 0,
                }
                for p in missing
            ],
        )
        result |= await active(missing)
    return result


async def _histories(
    session: AsyncSession, settings: IngestSettings, messages: list[Message]
) -> dict[uuid.UUID, list[Message]]:
    """For each message, the `history_messages` before it in its conversation, oldest first."""
    limit = settings.history_messages
    if limit <= 0 or not messages:
        return {m.id: [] for m in messages}
    per_conversation: dict[uuid.UUID, int] = {}
    for m in messages:
        per_conversation[m.conversation_id] = per_conversation.get(m.conversation_id, 0) + 1
    depth = limit + max(per_conversation.values())
    ranked = (
        select(
            Message,
            func.row_number()
            .over(
                partition_by=Message.conversation_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rank"),
        )
        # A private note is the team's, never part of what the AI reads.
        .where(Message.conversation_id.in_(per_conversation), Message.direction != "internal")
        .subquery()
    )
    recent = aliased(Message, ranked)
    rows = await session.scalars(
        select(recent)
        .where(ranked.c.rank <= depth)
        .order_by(recent.created_at, recent.id)
        .options(defer(recent.raw, raiseload=True))
    )
    by_conversation: dict[uuid.UUID, list[Message]] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    history: dict[uuid.UUID, list[Message]] = {}
    for m in messages:
        earlier = [
            h
            for h in by_conversation.get(m.conversation_id, [])
            if (h.created_at, str(h.id)) < (m.created_at, str(m.id))
        ]
        history[m.id] = earlier[-limit:]
    return history


async def _attach_reaction(
    session: AsyncSession, tenant_id: uuid.UUID, message: dict[str, Any], emoji: str | None
) -> None:
    reaction = message.get("reaction")
    target = reaction.get("message_id") if isinstance(reaction, dict) else None
    if target:
        await session.execute(
            update(Message)
            .where(Message.tenant_id == tenant_id, Message.wamid == str(target))
            .values(reaction=emoji)
        )


# --- statuses --------------------------------------------------------------------------------


def _status_error(status: dict[str, Any]) -> tuple[str | None, int | None]:
    errors = status.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    error = errors[0]
    code = error.get("code") if isinstance(error.get("code"), int) else None
    error_data = error.get("error_data")
    data = error_data if isinstance(error_data, dict) else {}
    text = error.get("title") or error.get("message") or "failed"
    if data.get("details"):
        text = f"{text}: {data['details']}"
    return (f"{code}: {text}" if code is not None else str(text))[:1000], code


async def apply_status(session: AsyncSession, received: WhatsAppStatusUpdatedPayload) -> bool:
    """Move an outbound message forward; keep a status for an unknown wamid for later.

    Returns True when a stored message changed.
    """
    rank = STATUS_RANK.get(received.status)
    if rank is None:
        log.warning("status.unknown_value", status=received.status)
        return False
    channel = await repository.channel_by_number(session, received.phone_number_id)
    if channel is None:
        UNKNOWN_NUMBER.labels("status").inc()
        log.warning("status.unknown_number", phone_number_id=received.phone_number_id)
        return False
    error, code = _status_error(received.status_object)
    changed = await _advance(
        session, channel.tenant_id, received.wamid, received.status, rank, error, code
    )
    if changed:
        return True
    exists = await session.scalar(
        select(Message.id).where(
            Message.tenant_id == channel.tenant_id, Message.wamid == received.wamid
        )
    )
    if exists is None:
        if await _adopt_wamid(session, channel.tenant_id, received, rank, error, code):
            return True
        # Ordering is not guaranteed: the send's response may not be stored yet.
        await session.execute(
            insert(PendingStatus)
            .values(
                id=uuid.uuid4(),
                tenant_id=channel.tenant_id,
                wamid=received.wamid,
                status=received.status,
                status_rank=rank,
                error=error,
                error_code=code,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "wamid", "status"])
        )
        log.info("status.pending", wamid=received.wamid, status=received.status)
    return False


async def _adopt_wamid(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    received: WhatsAppStatusUpdatedPayload,
    rank: int,
    error: str | None,
    code: int | None,
) -> bool:
    """A status for a wamid we never stored that names one of our messages (delivery sends
    its id as `biz_opaque_callback_data`): Meta accepted a send whose answer we never got (a
    timeout, a crash). The message takes the wamid and Meta's status, over the "outcome
    unknown" failure delivery recorded without a wamid."""
    try:
        message_id = uuid.UUID(str(received.status_object.get("biz_opaque_callback_data")))
    except ValueError:
        return False
    failed = received.status == "failed"
    row = (
        await session.execute(
            update(Message)
            .where(
                Message.tenant_id == tenant_id,
                Message.id == message_id,
                Message.direction == "outbound",
                Message.wamid.is_(None),
            )
            .values(
                wamid=received.wamid,
                status=received.status,
                status_rank=rank,
                error=error if failed else None,
                error_code=code if failed else None,
                sending_until=None,
                next_attempt_at=None,
            )
            .returning(Message.id, Message.conversation_id)
        )
    ).first()
    if row is None:
        return False
    # The call we could not account for did reach Meta.
    await session.execute(
        update(DeliveryAttempt)
        .where(
            DeliveryAttempt.message_id == message_id,
            DeliveryAttempt.outcome.in_(("sending", "unknown")),
        )
        .values(outcome="sent")
    )
    await emit_status_updated(
        session,
        tenant_id,
        message_id=row.id,
        conversation_id=row.conversation_id,
        wamid=received.wamid,
        status=received.status,
        error=error if failed else None,
        error_code=code if failed else None,
    )
    log.info("delivery.wamid_adopted", message_id=str(message_id), status=received.status)
    return True


async def _advance(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    wamid: str,
    status: str,
    rank: int,
    error: str | None,
    code: int | None,
) -> bool:
    values: dict[str, Any] = {"status": status, "status_rank": rank}
    if status == "failed":
        values |= {"error": error, "error_code": code}
    row = (
        await session.execute(
            update(Message)
            .where(
                Message.tenant_id == tenant_id,
                Message.wamid == wamid,
                Message.direction == "outbound",
                Message.status_rank < rank,
            )
            .values(**values)
            .returning(Message.id, Message.conversation_id)
        )
    ).first()
    if row is None:
        return False
    await emit_status_updated(
        session,
        tenant_id,
        message_id=row.id,
        conversation_id=row.conversation_id,
        wamid=wamid,
        status=status,
        error=error if status == "failed" else None,
        error_code=code if status == "failed" else None,
    )
    return True


async def apply_pending_statuses(session: AsyncSession, tenant_id: uuid.UUID, wamid: str) -> None:
    """Statuses that arrived before the wamid was stored: apply the furthest one."""
    pending = list(
        await session.scalars(
            select(PendingStatus)
            .where(PendingStatus.tenant_id == tenant_id, PendingStatus.wamid == wamid)
            .order_by(PendingStatus.status_rank.desc())
        )
    )
    if not pending:
        return
    best = pending[0]
    await _advance(
        session, tenant_id, wamid, best.status, best.status_rank, best.error, best.error_code
    )
    for row in pending:
        await session.delete(row)
    await session.flush()


# --- outbound --------------------------------------------------------------------------------


async def queue_outbound(
    session: AsyncSession,
    settings: IngestSettings,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    text: str,
    author: str,
    reply_to: str | None = None,
    sources: list[dict[str, Any]] | None = None,
    created_at: datetime | None = None,
    template: dict[str, Any] | None = None,
    interactive: dict[str, Any] | None = None,
) -> Message:
    """Store an outbound text (or, with `template`, a template message whose `text` is its
    preview) as `queued` and hand it to delivery (through the outbox). Delivery sends a
    conversation's messages in `created_at` order. Free text needs the 24-hour window open;
    a template does not. `interactive` (Meta's object, `text` its body) needs the window too."""
    found = await repository.get_conversation(session, tenant_id, conversation_id, lock=True)
    if found is None:
        raise AppError(404, "conversation not found")
    conversation, contact = found
    now = datetime.now(UTC)
    if (
        template is None
        and window_closes_at(conversation.last_inbound_at, settings.service_window_hours, now)
        is None
    ):
        raise AppError(409, WINDOW_CLOSED)
    channel = await session.get(Channel, conversation.channel_id)
    assert channel is not None
    message = Message(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction="outbound",
        author=author,
        type="template" if template is not None else "interactive" if interactive else "text",
        text=text,
        template=template,
        interactive=interactive,
        status="queued",
        status_rank=0,
        # The customer message it quotes on WhatsApp (the AI answers a turn this way).
        context={"id": reply_to} if reply_to else None,
        sources=sources or None,
        created_at=created_at or now,
    )
    session.add(message)
    conversation.last_message_at = max(conversation.last_message_at, now)
    conversation.last_message_preview = preview(message.type, text)
    if author == "agent":
        conversation.unread_count = 0  # a person answered: they have read the conversation
    repository.touch(conversation, now)
    await session.flush()
    await add_event(
        session,
        outbox,
        MessageOutboundQueuedV1(
            tenant_id=tenant_id, payload=MessageOutboundQueuedPayload(message_id=message.id)
        ),
    )
    await _emit_stored(session, settings, channel, conversation, contact, message)
    await emit_conversation_updated(session, conversation, contact, settings.service_window_hours)
    MESSAGES_STORED.labels("outbound").inc()
    return message


WINDOW_CLOSED = (
    "outside the 24-hour customer service window: the customer's last message is older than "
    "24 hours, so WhatsApp accepts only approved template messages (send one with "
    "`template`). The window reopens when the customer writes again."
)


async def update_conversation(
    session: AsyncSession,
    settings: IngestSettings,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    ai_enabled: bool | None,
    status: str | None,
    handoff_reason: str | None = None,
) -> tuple[Conversation, Contact]:
    found = await repository.get_conversation(session, tenant_id, conversation_id, lock=True)
    if found is None:
        raise AppError(404, "conversation not found")
    conversation, contact = found
    changed = False
    if ai_enabled is not None and ai_enabled != conversation.ai_enabled:
        conversation.ai_enabled = ai_enabled
        changed = True
    if status is not None and status != conversation.status:
        if status != "resolved":
            # Reopening must not collide with a newer open conversation of the same contact.
            other = await session.scalar(
                select(Conversation.id).where(
                    Conversation.channel_id == conversation.channel_id,
                    Conversation.contact_id == conversation.contact_id,
                    Conversation.status != "resolved",
                    Conversation.id != conversation.id,
                )
            )
            if other is not None:
                raise AppError(409, "this contact already has an open conversation on the channel")
        conversation.status = status
        conversation.handoff_reason = (
            (handoff_reason or "an agent marked it for a person") if status == "handoff" else None
        )
        changed = True
    if changed:
        repository.touch(conversation)
        await session.flush()
        await emit_conversation_updated(
            session, conversation, contact, settings.service_window_hours
        )
    return conversation, contact


async def accept_ai_reply(
    session: AsyncSession, settings: IngestSettings, event: ReplyGeneratedV1
) -> list[Message]:
    """The responder's answer: queued for delivery like an agent's reply, author `ai`, unless
    a person took over meanwhile or the 24-hour window closed (then dropped, and logged)."""
    reply = event.payload
    if event.tenant_id is None:
        log.warning("reply.without_tenant", reply_id=str(reply.reply_id))
        return []
    found = await repository.get_conversation(session, event.tenant_id, reply.conversation_id)
    if found is None:
        log.warning("reply.unknown_conversation", reply_id=str(reply.reply_id))
        return []
    conversation, _ = found
    # The fallback of a turn the AI handed off goes out even when the handoff (a separate
    # event, handled concurrently) got here first; any other reply needs the AI in charge.
    own_handoff = (
        reply.kind == "fallback"
        and conversation.status == "handoff"
        and conversation.ai_handoff_message_id == reply.in_reply_to_message_id
    )
    if not own_handoff and (not conversation.ai_enabled or conversation.status != "open"):
        log.info("reply.dropped", reason="human takeover", reply_id=str(reply.reply_id))
        return []
    if window_closes_at(conversation.last_inbound_at, settings.service_window_hours) is None:
        # Meta refuses free text now: never queued (it would only fail).
        log.info("reply.window_closed", reply_id=str(reply.reply_id))
        return await _reengage_or_hand_off(session, settings, event.tenant_id, conversation.id)
    queued = []
    sources = [source.model_dump(mode="json") for source in reply.sources]
    # Strictly increasing times: delivery sends the parts in this order.
    first = datetime.now(UTC)
    try:
        for i, part in enumerate(p for p in reply.parts if p.strip()):
            queued.append(
                await queue_outbound(
                    session,
                    settings,
                    event.tenant_id,
                    reply.conversation_id,
                    text=part[:4096],
                    author="ai",
                    reply_to=reply.in_reply_to_wamid if i == 0 else None,
                    sources=sources if i == 0 else None,
                    created_at=first + timedelta(microseconds=i),
                )
            )
    except AppError as exc:
        log.warning("reply.refused", reason=exc.detail, reply_id=str(reply.reply_id))
        raise PermanentReplyError(exc.detail) from exc
    return queued


async def accept_auto_reply(
    session: AsyncSession, settings: IngestSettings, event: AutoReplyV1
) -> Message | None:
    """The business's outside-hours auto-reply: queued like any outbound message (author
    `ai`), whoever is in charge of the conversation: it is the business speaking, not the AI
    answering. Dropped (logged) when the window has closed meanwhile: Meta would refuse it."""
    reply = event.payload
    if event.tenant_id is None:
        return None
    found = await repository.get_conversation(session, event.tenant_id, reply.conversation_id)
    if found is None:
        log.warning("auto_reply.unknown_conversation", reply_id=str(reply.reply_id))
        return None
    if window_closes_at(found[0].last_inbound_at, settings.service_window_hours) is None:
        log.info("auto_reply.window_closed", reply_id=str(reply.reply_id))
        return None
    message = await queue_outbound(
        session,
        settings,
        event.tenant_id,
        reply.conversation_id,
        text=reply.text[:4096],
        author="ai",
        reply_to=reply.in_reply_to_wamid,
    )
    log.info("auto_reply.queued", reply_id=str(reply.reply_id))
    return message


WINDOW_CLOSED_HANDOFF = "the 24-hour window closed; send a template"


async def _reengage_or_hand_off(
    session: AsyncSession,
    settings: IngestSettings,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> list[Message]:
    """The AI's answer came after the window closed: the channel's re-engagement template
    goes out if the business opted in (once per closed window), else a person takes over."""
    found = await repository.get_conversation(session, tenant_id, conversation_id, lock=True)
    assert found is not None
    conversation, contact = found
    channel = await session.get(Channel, conversation.channel_id)
    assert channel is not None
    reason = WINDOW_CLOSED_HANDOFF
    chosen = channel.reengagement_template
    if channel.auto_reengage and chosen:
        already = await session.scalar(
            select(Message.id)
            .where(
                Message.conversation_id == conversation.id,
                Message.type == "template",
                Message.created_at >= (conversation.last_inbound_at or conversation.created_at),
            )
            .limit(1)
        )
        if already is not None:
            log.info("reply.reengagement_already_sent", conversation_id=str(conversation.id))
            return []
        try:
            stored, text = await templates.prepare_send(
                session, channel.id, str(chosen.get("name")), str(chosen.get("language")), {}
            )
        except AppError as exc:
            reason = f"{WINDOW_CLOSED_HANDOFF} (the re-engagement template: {exc.detail})"
        else:
            message = await queue_outbound(
                session,
                settings,
                tenant_id,
                conversation.id,
                text=text,
                author="ai",
                template=stored,
            )
            log.info("reply.reengagement_sent", conversation_id=str(conversation.id))
            return [message]
    if conversation.status == "handoff":  # the AI's own handoff: only the reason changes
        conversation.handoff_reason = reason
        repository.touch(conversation)
        await session.flush()
        await emit_conversation_updated(
            session, conversation, contact, settings.service_window_hours
        )
    else:
        await update_conversation(
            session,
            settings,
            tenant_id,
            conversation.id,
            ai_enabled=False,
            status="handoff",
            handoff_reason=reason,
        )
    log.info("conversation.handoff", reason=reason)
    return []


class PermanentReplyError(Exception):
    """The reply cannot be delivered (window closed, conversation gone): no retry helps."""


async def request_handoff(
    session: AsyncSession, settings: IngestSettings, event: HandoffRequestedV1
) -> None:
    """The responder asks for a person: the conversation goes to `handoff` and the AI steps
    aside in it (an agent hands it back with PATCH ai_enabled=true)."""
    if event.tenant_id is None:
        return
    found = await repository.get_conversation(
        session, event.tenant_id, event.payload.conversation_id, lock=True
    )
    ai_in_charge = found is not None and found[0].ai_enabled and found[0].status == "open"
    try:
        conversation, contact = await update_conversation(
            session,
            settings,
            event.tenant_id,
            event.payload.conversation_id,
            ai_enabled=False,
            status="handoff",
            handoff_reason=event.payload.reason,
        )
    except AppError as exc:
        log.warning("handoff.ignored", reason=exc.detail)
        return
    # Not after a person took over: then the AI's fallback stays unsent. (Internal, not in
    # the payload; the handoff above gave this transaction its new version.)
    if ai_in_charge:
        conversation.ai_handoff_message_id = event.payload.message_id
    await inbox.assign_on_handoff(
        session,
        conversation,
        contact,
        presence_s=settings.inbox_presence_s,
        window_hours=settings.service_window_hours,
    )
    log.info("conversation.handoff", reason=event.payload.reason)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
