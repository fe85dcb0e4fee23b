"""Outbound: a reply queued by an agent, the AI or an auto-reply (the 24-hour window
respected: a template or a handoff outside it), and handoffs. They flush; the caller's
unit of work commits."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import (
    AutoReplyV1,
    Envelope,
    HandoffRequestedV1,
    MessageOutboundQueuedPayload,
    MessageOutboundQueuedV1,
    ReplyGeneratedV1,
)
from common.outbox import add_events
from ingest import inbox, repository, templates
from ingest.conversations import update_conversation
from ingest.models import (
    Channel,
    Contact,
    Conversation,
    Message,
    outbox,
)
from ingest.normalize import preview
from ingest.settings import IngestSettings
from ingest.summaries import (
    MESSAGES_STORED,
    conversation_updated,
    emit_conversation_updated,
    stored_with_history,
    window_closes_at,
)

log = structlog.get_logger(__name__)


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
    events: list[Envelope] = []
    message = await _queue_in(
        session,
        settings,
        conversation,
        contact,
        events,
        text=text,
        author=author,
        reply_to=reply_to,
        sources=sources,
        created_at=created_at,
        template=template,
        interactive=interactive,
    )
    await add_events(session, outbox, events)
    return message


async def _queue_in(
    session: AsyncSession,
    settings: IngestSettings,
    conversation: Conversation,
    contact: Contact,
    events: list[Envelope],
    *,
    text: str,
    author: str,
    reply_to: str | None = None,
    sources: list[dict[str, Any]] | None = None,
    created_at: datetime | None = None,
    template: dict[str, Any] | None = None,
    interactive: dict[str, Any] | None = None,
) -> Message:
    """`queue_outbound` in a conversation the caller loaded and locked; the message's events
    (queued, stored, conversation updated) are appended to `events` for the caller to write
    in one statement."""
    tenant_id = conversation.tenant_id
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
    events.append(
        MessageOutboundQueuedV1(
            tenant_id=tenant_id, payload=MessageOutboundQueuedPayload(message_id=message.id)
        )
    )
    events.append(
        await stored_with_history(session, settings, channel, conversation, contact, message)
    )
    events.append(conversation_updated(conversation, contact, settings.service_window_hours))
    MESSAGES_STORED.labels("outbound").inc()
    return message


WINDOW_CLOSED = (
    "outside the 24-hour customer service window: the customer's last message is older than "
    "24 hours, so WhatsApp accepts only approved template messages (send one with "
    "`template`). The window reopens when the customer writes again."
)


async def accept_ai_reply(
    session: AsyncSession, settings: IngestSettings, event: ReplyGeneratedV1
) -> list[Message]:
    """The responder's answer: queued for delivery like an agent's reply, author `ai`, unless
    a person took over meanwhile or the 24-hour window closed (then dropped, and logged)."""
    reply = event.payload
    if event.tenant_id is None:
        log.warning("reply.without_tenant", reply_id=str(reply.reply_id))
        return []
    # Locked at once: the one read this reply needs (queueing its parts reads it no more).
    found = await repository.get_conversation(
        session, event.tenant_id, reply.conversation_id, lock=True
    )
    if found is None:
        log.warning("reply.unknown_conversation", reply_id=str(reply.reply_id))
        return []
    conversation, contact = found
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
    events: list[Envelope] = []
    sources = [source.model_dump(mode="json") for source in reply.sources]
    # Strictly increasing times: delivery sends the parts in this order.
    first = datetime.now(UTC)
    try:
        for i, part in enumerate(p for p in reply.parts if p.strip()):
            queued.append(
                await _queue_in(
                    session,
                    settings,
                    conversation,
                    contact,
                    events,
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
    # Every part's events, in order, in one statement.
    await add_events(session, outbox, events)
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
        already = await repository.template_sent_since(
            session, conversation.id, conversation.last_inbound_at or conversation.created_at
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
