"""The gateway's events → RabbitMQ → ingest → Postgres: every inbound type, redelivery,
unknown numbers, statuses in any order. (`platform`: see conftest.py; the same through the
real gateway, batches of entries and NUL characters: tests/e2e/test_webhooks_into_ingest.py.)"""

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql

from common.bus import Bus
from common.db import Database
from common.events import (
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    whatsapp_message_event_id,
)
from ingest.repository import stored_wamids
from ingest.settings import IngestSettings
from wa_testing.fakes import inbound_examples
from wa_testing.plugin import eventually, text_message


def now_ts() -> int:
    return int(time.time())


def stamped(message: dict[str, Any], ts: int) -> dict[str, Any]:
    return {**message, "timestamp": str(ts)}


EXPECTED_TEXT = {
    "text": "Olá! Têm entregas? 🚚",
    "image": "my receipt 🧾",
    "audio": None,
    "video": "unboxing",
    "document": "invoice.pdf",
    "sticker": None,
    "location": "Loja Baixa, Rua Augusta 1, Lisboa",
    "contacts": "Ana Lima (+351 912 345 678)",
    "button_reply": "Confirm",
    "list_reply": "9:00 tomorrow",
    "nfm_reply": "Sent",
    "button": "Stop promotions",
    "reaction": "👍",
    "reaction_removed": None,
    "order": "for Sunday",
    "system": "User A changed from 1 to 2",
    "referral": "Is this still available?",
    "reply": "answering this one",
    "forwarded": "look at this",
    "unsupported": "unsupported message (poll_creation)",
    "future": "from the future",
}
EXPECTED_TYPE = {
    "button_reply": "interactive",
    "list_reply": "interactive",
    "nfm_reply": "interactive",
    "reaction_removed": "reaction",
    "referral": "text",
    "reply": "text",
    "forwarded": "text",
    "future": "unknown",
}


async def test_every_inbound_type_is_stored_once_with_readable_text(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner)
    sender = "351912345678"
    prefix = f"wamid.{uuid.uuid4().hex[:8]}"
    examples = inbound_examples(sender, prefix=prefix)
    ts = now_ts() - len(examples)
    messages = [stamped(m, ts + i) for i, m in enumerate(examples.values())]
    contacts = [{"profile": {"name": "Inês"}, "wa_id": sender}]
    await platform.inbound(channel["phone_number_id"], messages, contacts)
    # Meta redelivers the whole body: nothing is stored twice.
    await platform.inbound(channel["phone_number_id"], messages, contacts)

    [conversation] = await platform.wait_conversation(owner)
    stored = await platform.wait_messages(owner, conversation["id"], len(examples))
    await asyncio.sleep(0.3)
    stored = await platform.messages(owner, conversation["id"])
    assert len(stored) == len(examples)
    by_wamid = {m["wamid"]: m for m in stored}
    for name in examples:
        message = by_wamid[f"{prefix}.{name}"]
        assert message["type"] == EXPECTED_TYPE.get(name, name), name
        assert message["text"] == EXPECTED_TEXT[name], name
        assert message["direction"] == "inbound" and message["author"] == "customer"
        assert message["status"] == "received"
    image = by_wamid[f"{prefix}.image"]["media"]
    assert image["id"] == "MEDIA1" and image["mime_type"] == "image/jpeg"
    assert by_wamid[f"{prefix}.audio"]["media"]["voice"] is True
    assert by_wamid[f"{prefix}.document"]["media"]["filename"] == "invoice.pdf"
    # Sandbox channel: media cannot be fetched without a token, and says so.
    assert by_wamid[f"{prefix}.text"]["media"] is None

    raw = await platform.sql(
        "select wamid, raw, context from ingest.messages where wamid like :p",
        p=f"{prefix}.%",
    )
    rows = {r.wamid: r for r in raw}
    assert rows[f"{prefix}.future"].raw["hologram"] == {"body": "from the future", "depth": 3}
    assert rows[f"{prefix}.unsupported"].raw["errors"][0]["code"] == 131051
    assert rows[f"{prefix}.reply"].context == {"from": "15550783881", "id": f"{prefix}.OUT"}
    assert rows[f"{prefix}.forwarded"].context == {"forwarded": True}
    assert rows[f"{prefix}.referral"].context["referral"]["ctwa_clid"] == "CLID"

    [conversation] = await platform.conversations(owner)
    assert conversation["contact"]["name"] == "Inês"
    assert conversation["contact"]["wa_id"] == sender
    assert conversation["unread_count"] == len(examples)
    assert conversation["ai_enabled"] is True
    assert conversation["status"] == "open"
    # The newest message decides the preview.
    assert conversation["last_message_preview"] == "from the future"


async def test_an_unknown_number_is_acknowledged_counted_and_stored_nowhere(platform: Any) -> None:
    def counted() -> float:
        return REGISTRY.get_sample_value("ingest_unknown_number_total", {"kind": "message"}) or 0.0

    before = counted()
    wamid = f"wamid.{uuid.uuid4().hex}"
    await platform.inbound(
        "000000000000", [text_message(wamid, "111", "hello?", timestamp=now_ts())]
    )
    await eventually(lambda: asyncio.sleep(0, counted() > before))
    assert await platform.sql("select 1 from ingest.messages where wamid = :w", w=wamid) == []


async def test_a_customer_writing_after_resolved_reopens_the_conversation(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner)
    pnid = channel["phone_number_id"]
    await platform.inbound(
        pnid, [text_message(f"w.{uuid.uuid4().hex}", "777", "one", timestamp=now_ts())]
    )
    [conversation] = await platform.wait_conversation(owner)
    r = await platform.ingest.patch(
        f"/api/conversations/{conversation['id']}", json={"status": "resolved"}, headers=owner
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert await platform.conversations(owner, status="open") == []
    await platform.inbound(
        pnid, [text_message(f"w.{uuid.uuid4().hex}", "777", "two", timestamp=now_ts())]
    )

    async def reopened() -> list[dict[str, Any]]:
        return list(await platform.conversations(owner, status="open"))

    [again] = await eventually(reopened)
    assert again["id"] == conversation["id"]
    assert again["last_message_preview"] == "two"


async def test_one_bad_message_in_a_batch_fails_alone(platform: Any, bus: Bus) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner)

    def received(wamid: str, kind: str) -> WhatsAppMessageReceivedV1:
        return WhatsAppMessageReceivedV1(
            event_id=whatsapp_message_event_id(wamid),
            payload=WhatsAppMessageReceivedPayload(
                phone_number_id=channel["phone_number_id"],
                wamid=wamid,
                type=kind,
                timestamp=datetime.now(UTC),
                contact=WhatsAppContact(wa_id="555", name="Eve"),
                message=text_message(wamid, "555", "hello"),
            ),
        )

    tag = uuid.uuid4().hex[:8]
    # A type longer than the column allows makes its insert fail (a poison event).
    batch = [
        received(f"w.{tag}.1", "text"),
        received(f"w.{tag}.bad", "x" * 40),
        received(f"w.{tag}.2", "text"),
    ]
    await bus.publish_many(batch, mandatory=True)
    [conversation] = await platform.wait_conversation(owner)
    stored = await platform.wait_messages(owner, conversation["id"], 2)
    assert sorted(m["wamid"] for m in stored) == [f"w.{tag}.1", f"w.{tag}.2"]

    async def dead_lettered() -> bool:
        return await bus.dead_letter_count("ingest.whatsapp-messages") == 1

    await eventually(dead_lettered)
    assert len(await platform.messages(owner, conversation["id"])) == 2


async def test_the_redelivery_lookup_searches_the_tenant_s_index(
    ingest_settings: IngestSettings,
) -> None:
    """Issue 12, finding 8: the dedup lookup matched `wamid` alone, so with the unique index
    led by tenant_id it read every tenant's messages. Now tenant_id is an index condition."""
    db = Database(ingest_settings.database_url)
    try:
        async with db.session() as session:
            [columns] = (
                await session.execute(
                    sql(
                        "select array_agg(a.attname order by k.n) from pg_index i"
                        " join pg_class c on c.oid = i.indexrelid"
                        " cross join unnest(i.indkey) with ordinality k(attnum, n)"
                        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum"
                        " where c.relname = 'uq_messages_tenant_id_wamid' and i.indisunique"
                    )
                )
            ).one()
            assert columns == ["tenant_id", "wamid"]
            # Tiny test tables: without these the planner may read them whole, or combine
            # bitmaps of whatever other tests left behind.
            await session.execute(sql("set local enable_seqscan = off"))
            await session.execute(sql("set local enable_bitmapscan = off"))
            query = stored_wamids([(uuid.uuid4(), "wamid.A"), (uuid.uuid4(), "wamid.B")])
            compiled = query.compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
            [[plan]] = (await session.execute(sql(f"explain (format json) {compiled}"))).all()
        scans = list(_index_scans(plan[0]["Plan"]))
        # The index is searched by tenant (the old lookup could only read all of it, or the
        # table); whether wamid is a condition or a filter too is the planner's choice.
        assert any("tenant_id" in scan.get("Index Cond", "") for scan in scans), [
            (scan["Index Name"], scan.get("Index Cond"), scan.get("Filter")) for scan in scans
        ]
    finally:
        await db.dispose()


def _index_scans(node: dict[str, Any]) -> Any:
    if "Index Name" in node:
        yield node
    for child in node.get("Plans", []):
        yield from _index_scans(child)
