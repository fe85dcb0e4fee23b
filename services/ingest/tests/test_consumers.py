"""ingest's consumer: through the real broker into real Postgres, exactly once."""

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from common.bus import Bus, Subscription
from common.db import Database
from common.events import (
    ConversationMessageStoredV1,
    Envelope,
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    whatsapp_message_event_id,
)
from common.testing import eventually, running_app, text_message
from ingest.main import create_app
from ingest.models import Message, outbox
from ingest.service import store_inbound_message
from ingest.settings import IngestSettings


def received(wamid: str, body: str = "Hola 👋") -> WhatsAppMessageReceivedV1:
    return WhatsAppMessageReceivedV1(
        event_id=whatsapp_message_event_id(wamid),
        correlation_id=f"corr-{wamid}",
        payload=WhatsAppMessageReceivedPayload(
            phone_number_id="106540352242922",
            wamid=wamid,
            type="text",
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            contact=WhatsAppContact(wa_id="16505551234", name="Ann"),
            message=text_message(wamid, "16505551234", body),
        ),
    )


async def count_messages(db: Database, wamid: str) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).where(Message.wamid == wamid)) or 0)


async def test_the_schema_is_migrated_with_its_version_table(ingest_database_url: str) -> None:
    db = Database(ingest_database_url, pool_size=1)
    async with db.sessionmaker() as s:
        tables = set(
            (
                await s.execute(
                    text(
                        "select table_name from information_schema.tables "
                        "where table_schema = 'ingest'"
                    )
                )
            ).scalars()
        )
    await db.dispose()
    assert {"messages", "outbox", "processed_events", "alembic_version"} <= tables


async def test_storing_twice_keeps_one_message_and_one_event(ingest_database_url: str) -> None:
    db = Database(ingest_database_url, pool_size=1)
    wamid = f"wamid.{uuid.uuid4().hex}"
    event = received(wamid)
    async with db.session() as s:
        first = await store_inbound_message(s, event.payload)
    async with db.session() as s:
        second = await store_inbound_message(s, event.payload)
    assert first is not None and first.text == "Hola 👋"
    assert second is None
    assert await count_messages(db, wamid) == 1
    async with db.sessionmaker() as s:
        bodies = (await s.execute(select(outbox.c.body))).scalars().all()
    stored = [b for b in bodies if b["payload"]["wamid"] == wamid]
    assert len(stored) == 1
    assert stored[0]["event_type"] == "conversation.message.stored.v1"
    await db.dispose()


async def test_a_redelivered_event_through_the_broker_is_stored_once(
    ingest_settings: IngestSettings, bus: Bus
) -> None:
    stored_events: list[Envelope] = []
    wamid = f"wamid.{uuid.uuid4().hex}"

    async def listener(event: Envelope) -> None:
        # Other tests' outbox rows may be relayed here too: keep this test's own.
        if isinstance(event, ConversationMessageStoredV1) and event.payload.wamid == wamid:
            stored_events.append(event)

    await bus.subscribe(
        Subscription("ingest-test.stored", ("conversation.message.stored.v1",), listener)
    )
    app = create_app(ingest_settings)
    async with running_app(app) as client:
        event = received(wamid, "Olá, quero saber do meu pedido")
        await bus.publish(event, mandatory=True)
        await bus.publish(event, mandatory=True)  # Meta redelivered it
        await eventually(lambda: asyncio.sleep(0, stored_events))
        await asyncio.sleep(0.5)
        assert (await client.get("/health")).status_code == 200
    db = Database(ingest_settings.database_url, pool_size=1)
    assert await count_messages(db, wamid) == 1
    await db.dispose()
    [stored] = stored_events
    assert isinstance(stored, ConversationMessageStoredV1)
    assert stored.payload.wamid == wamid
    assert stored.payload.text == "Olá, quero saber do meu pedido"
    # The correlation id of the inbound event follows into what ingest publishes.
    assert stored.correlation_id == event.correlation_id
