"""ingest's subscriptions: one handler per event, each idempotent in its own transaction."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from common.bus import Subscription
from common.events import Envelope, WhatsAppMessageReceivedV1
from common.idempotency import idempotent
from ingest.models import processed_events
from ingest.service import store_inbound_message

WHATSAPP_MESSAGES = "ingest.whatsapp-messages"
# Every consumer name of this service (the dead-letter replay CLI finds them here).
CONSUMERS = [WHATSAPP_MESSAGES]


async def on_message_received(session: AsyncSession, event: Envelope) -> None:
    assert isinstance(event, WhatsAppMessageReceivedV1)
    await store_inbound_message(session, event.payload)


def subscriptions(runtime: ServiceRuntime) -> Sequence[Subscription]:
    assert runtime.db is not None
    return [
        Subscription(
            consumer=WHATSAPP_MESSAGES,
            event_types=("whatsapp.message.received.v1",),
            handler=idempotent(
                runtime.db, processed_events, WHATSAPP_MESSAGES, on_message_received
            ),
        )
    ]
