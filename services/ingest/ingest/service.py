"""Business functions of ingest. They flush; the caller's unit of work commits."""

from typing import Any

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import (
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    WhatsAppMessageReceivedPayload,
)
from common.outbox import add_event
from ingest.models import Message, outbox

log = structlog.get_logger(__name__)


def message_text(message: dict[str, Any]) -> str | None:
    """The readable text of a message (body or caption); richer types come with the inbox."""
    kind = message.get("type")
    content = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(content, dict):
        return None
    for key in ("body", "caption"):
        if isinstance(content.get(key), str):
            return str(content[key])
    return None


async def store_inbound_message(
    session: AsyncSession, received: WhatsAppMessageReceivedPayload
) -> Message | None:
    """Store the message once (unique wamid) and emit `conversation.message.stored.v1`.

    Returns None when the wamid was already stored: a redelivery changes nothing.
    """
    text = message_text(received.message)
    inserted = await session.scalar(
        insert(Message)
        .values(
            phone_number_id=received.phone_number_id,
            wamid=received.wamid,
            wa_id=received.contact.wa_id if received.contact else None,
            direction="inbound",
            type=received.type,
            text=text,
            raw=received.message,
            sent_at=received.timestamp,
        )
        .on_conflict_do_nothing(index_elements=["wamid"])
        .returning(Message)
    )
    if inserted is None:
        log.info("message.already_stored", wamid=received.wamid)
        return None
    await add_event(
        session,
        outbox,
        ConversationMessageStoredV1(
            payload=ConversationMessageStoredPayload(
                message_id=inserted.id,
                wamid=inserted.wamid,
                phone_number_id=inserted.phone_number_id,
                direction="inbound",
                type=inserted.type,
                text=inserted.text,
                sent_at=inserted.sent_at,
            )
        ),
    )
    log.info("message.stored", wamid=received.wamid, type=received.type)
    return inserted
