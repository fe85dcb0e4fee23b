"""Inbound: a batch of customer messages from the gateway's webhooks, stored once each
(contacts, conversations, reactions, CSAT answers, media to fetch), in the caller's
transaction."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import (
    ConversationUpdatedV1,
    Envelope,
    MessageMediaPendingPayload,
    MessageMediaPendingV1,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
)
from common.outbox import add_events
from ingest import csat, repository
from ingest.models import (
    Channel,
    Contact,
    Conversation,
    Message,
    outbox,
)
from ingest.normalize import media_summary, message_context, message_text, preview
from ingest.settings import IngestSettings
from ingest.summaries import MESSAGES_STORED, UNKNOWN_NUMBER, conversation_summary, stored_event

log = structlog.get_logger(__name__)


async def store_inbound_message(
    session: AsyncSession, settings: IngestSettings, received: WhatsAppMessageReceivedV1
) -> Message | None:
    """One message: see `store_inbound_batch`."""
    stored = await store_inbound_batch(session, settings, [received])
    return stored[0] if stored else None


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
        c.phone_number_id: c for c in await repository.channels_by_numbers(session, numbers)
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
    existing = await repository.existing_wamids(session, keys)
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
    inserted = await repository.insert_inbound_messages(session, rows)
    messages = await repository.messages_by_ids(session, inserted)
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
    # A conversation a rating answers is changed through the ORM (with its rating); the
    # others only take their new activity, written for all of them in one statement.
    rated_ids = {a.conversation.id for a in answers.values()}
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
        if conversation.id in rated_ids:
            repository.touch(conversation, now)
    active = {m.conversation_id for _, _, m in stored} - rated_ids
    # In id order, as they were locked.
    await repository.set_conversation_activity(
        session, sorted((by_id[i] for i in active), key=lambda c: c.id), now
    )
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
            stored_event(
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
    # Rows go in key order, so concurrent batches lock contacts in the same order.
    return await repository.upsert_contacts(session, [merged[k] for k in sorted(merged, key=str)])


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
    result = await repository.lock_active_conversations(session, pairs)
    missing = [p for p in pairs if p not in result]
    if missing and settings.reopen_resolved_conversations:
        resolved = await repository.lock_conversations_of(session, missing)
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
        await repository.insert_conversations(
            session,
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
        result |= await repository.lock_active_conversations(session, missing)
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
    # A private note is the team's, never part of what the AI reads: the query leaves them out.
    rows = await repository.recent_histories(session, list(per_conversation), depth)
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
        await repository.set_reaction(session, tenant_id, str(target), emoji)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
