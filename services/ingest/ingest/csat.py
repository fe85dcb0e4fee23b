"""CSAT in ingest: sending the rating question the responder asked for (`csat.requested.v1`)
the way the 24-hour window allows, and recognising the customer's answer.

Inside the window the question is an interactive message with three reply buttons; outside
it, the business's approved template, its quick-reply buttons carrying the same payloads;
with neither, nothing is sent (logged with why). The answer (a `button_reply` id or a
template button payload `csat:N`) is stored in the asking conversation like any message but
reopens nothing and prompts no AI; the first answer per request is the rating.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import (
    ConversationCSATReceivedPayload,
    ConversationCSATReceivedV1,
    CSATRating,
    CSATRequestedV1,
    Envelope,
)
from ingest import repository, templates
from ingest.models import Conversation, CSATRequest, Message
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

# Score, payload and button title (Meta: at most 20 characters), best first.
SCALE: tuple[tuple[int, str, str], ...] = (
    (3, "Great", "😀 Great"),
    (2, "OK", "😐 OK"),
    (1, "Poor", "🙁 Poor"),
)
LABELS = {score: label for score, label, _ in SCALE}
_ANSWER = re.compile(r"^csat:([123])$")


def rating(conversation: Conversation) -> CSATRating | None:
    if conversation.csat_score is None or conversation.csat_responded_at is None:
        return None
    return CSATRating(
        score=conversation.csat_score,
        label=LABELS[conversation.csat_score],
        responded_at=conversation.csat_responded_at,
    )


def interactive_question(question: str) -> dict[str, Any]:
    """Meta's reply-buttons object (docs/whatsapp.md): ids `csat:3`, `csat:2`, `csat:1`."""
    return {
        "type": "button",
        "body": {"text": question[:1024]},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"csat:{score}", "title": title}}
                for score, _, title in SCALE
            ]
        },
    }


def answer_score(kind: str, message: dict[str, Any]) -> int | None:
    """The score of a rating tap (an interactive button reply or a template button)."""
    value: Any = None
    if kind == "interactive":
        value = ((message.get("interactive") or {}).get("button_reply") or {}).get("id")
    elif kind == "button":
        value = (message.get("button") or {}).get("payload")
    match = _ANSWER.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


async def _ai_resolved(session: AsyncSession, conversation: Conversation) -> bool:
    """No agent wrote to the customer and the AI never handed the conversation off."""
    if conversation.ai_handoff_message_id is not None or conversation.handoff_reason:
        return False
    return not await repository.agent_wrote(session, conversation.id)


async def _template_question(
    session: AsyncSession, channel_id: uuid.UUID, name: str
) -> tuple[dict[str, Any], str] | str:
    """The template message to store, and its preview; or why it cannot be sent."""
    found = await repository.templates_named(session, channel_id, name)
    approved = [t for t in found if t.status == "APPROVED"]
    if not approved:
        return f"template {name!r} is not an approved template of the channel"
    template = approved[0]
    try:
        stored, text = await templates.prepare_send(
            session, channel_id, template.name, template.language, {}
        )
    except AppError as exc:
        return f"template {name!r} does not fit: {exc.detail}"
    quick_replies = [
        b
        for c in template.components
        if isinstance(c, dict) and str(c.get("type", "")).upper() == "BUTTONS"
        for b in c.get("buttons") or []
        if str(b.get("type", "")).upper() == "QUICK_REPLY"
    ]
    # Its quick-reply buttons, in order, carry the scale's payloads (best first).
    stored["components"] = list(stored["components"]) + [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": f"csat:{score}"}],
        }
        for i, ((score, _, _), _) in enumerate(zip(SCALE, quick_replies, strict=False))
    ]
    return stored, text


async def send_request(
    session: AsyncSession, settings: IngestSettings, event: CSATRequestedV1
) -> Message | None:
    """Ask the customer of a resolved conversation for a rating, once per request."""
    from ingest.outbound import queue_outbound  # they import this module
    from ingest.summaries import window_closes_at

    r = event.payload
    if event.tenant_id is None:
        return None
    found = await repository.get_conversation(session, event.tenant_id, r.conversation_id)
    if found is None:
        log.info("csat.not_sent", reason="conversation gone")
        return None
    conversation, _ = found
    if conversation.status != "resolved":
        log.info("csat.not_sent", reason="the conversation was reopened meanwhile")
        return None
    if await session.get(CSATRequest, r.request_id) is not None:
        return None  # asked already (a redelivery of a request already handled)
    request = CSATRequest(
        id=r.request_id,
        tenant_id=event.tenant_id,
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        contact_id=conversation.contact_id,
        assignee_id=conversation.assignee_id,
        ai_resolved=await _ai_resolved(session, conversation),
    )
    session.add(request)
    message: Message | None = None
    if window_closes_at(conversation.last_inbound_at, settings.service_window_hours):
        message = await queue_outbound(
            session,
            settings,
            event.tenant_id,
            conversation.id,
            text=r.question,
            author="ai",
            interactive=interactive_question(r.question),
        )
    elif r.template_name:
        prepared = await _template_question(session, conversation.channel_id, r.template_name)
        if isinstance(prepared, str):
            log.warning("csat.not_sent", reason=prepared)
        else:
            stored, text = prepared
            message = await queue_outbound(
                session,
                settings,
                event.tenant_id,
                conversation.id,
                text=text,
                author="ai",
                template=stored,
            )
    else:
        log.info("csat.not_sent", reason="the 24-hour window is closed and no template is set")
    request.message_id = message.id if message is not None else None
    await session.flush()
    if message is not None:
        log.info("csat.sent", type=message.type, conversation_id=str(conversation.id))
    return message


@dataclass(frozen=True)
class Answer:
    request: CSATRequest
    conversation: Conversation
    score: int


async def find_request(
    session: AsyncSession, channel_id: uuid.UUID, contact_id: uuid.UUID, score: int
) -> Answer | None:
    """The latest request sent to this contact on this channel, with its conversation
    (locked): the one a rating tap answers."""
    request = await repository.latest_csat_request(session, channel_id, contact_id)
    if request is None:
        return None
    conversation = await repository.lock_conversation(session, request.conversation_id)
    return Answer(request, conversation, score) if conversation is not None else None


async def record_answer(
    session: AsyncSession, answer: Answer, message: Message, correlation_id: str | None
) -> Envelope | None:
    """The first answer of a request is the rating (on the conversation, and an event for
    analytics); a later tap is only a message."""
    claimed = await repository.claim_csat_answer(session, answer.request.id, answer.score, message)
    if claimed is None:
        log.info("csat.already_answered", request_id=str(answer.request.id))
        return None
    conversation = answer.conversation
    conversation.csat_score = answer.score
    conversation.csat_responded_at = message.created_at
    repository.touch(conversation)
    responded_at: datetime = message.created_at
    log.info("csat.received", score=answer.score, conversation_id=str(conversation.id))
    return ConversationCSATReceivedV1(
        tenant_id=conversation.tenant_id,
        correlation_id=correlation_id,
        payload=ConversationCSATReceivedPayload(
            request_id=answer.request.id,
            conversation_id=conversation.id,
            message_id=message.id,
            score=answer.score,
            assignee_id=answer.request.assignee_id,
            ai_resolved=answer.request.ai_resolved,
            responded_at=responded_at,
        ),
    )
