"""The product's promise, through every real process: a customer writes on WhatsApp, the AI
answers from the business's own document, and asks for a person when it should.

Meta's Graph API and the LLM are real HTTP servers in this test; auth, gateway, ingest,
knowledge and responder are real uvicorn processes on the run's database and broker.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from wa_testing.fakes import FakeGraphAPI, FakeLLM, serve_app
from wa_testing.plugin import (
    bearer,
    eventually,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    remove_topology,
    running_services,
    text_message,
)

pytestmark = pytest.mark.e2e

SECRET = "e2e-app-secret"
PNID = f"77{uuid.uuid4().int % 10**10:010d}"
POLICY = (
    "Delivery\n\nWe deliver on Sundays between 9am and 1pm in the city centre. Delivery costs "
    "3 euros and is free above 30 euros.\n\nReturns\n\nUnopened products can be returned "
    "within 14 days with the receipt."
)


@pytest.fixture
async def platform(
    database_url: str, amqp_url: str, bus_prefix: str
) -> AsyncIterator[dict[str, Any]]:
    graph, llm = FakeGraphAPI(), FakeLLM(answer="Yes! We deliver on **Sundays**, 9am to 1pm.")
    async with graph.running(), serve_app(llm.app()) as llm_url:
        base = {
            "ENVIRONMENT": "test",
            "DATABASE_URL": database_url,
            "AMQP_URL": amqp_url,
            "BUS_PREFIX": bus_prefix,
            "INTERNAL_TOKEN": "e2e-internal",
            "OUTBOX_POLL_INTERVAL_S": "0.1",
        }
        extra = {
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_GRAPH_URL": graph.base_url,
            "LLM_BASE_URL": f"{llm_url}/v1",
            "LLM_API_KEY": "sk-e2e",
            "QUIET_PERIOD_S": "0",
        }
        async with running_services(base, extra) as urls:
            yield {**urls, "graph": graph, "llm": llm}
    await remove_topology(amqp_url, bus_prefix, set())


async def webhook(client: httpx.AsyncClient, gateway: str, wamid: str, text: str) -> None:
    body = meta_json(
        notification(
            (
                "WABA",
                [
                    messages_change(
                        PNID,
                        contacts=[{"profile": {"name": "Inês"}, "wa_id": "351911111111"}],
                        messages=[
                            text_message(wamid, "351911111111", text, timestamp=int(time.time()))
                        ],
                    )
                ],
            )
        )
    )
    r = await client.post(
        f"{gateway}/api/webhook/whatsapp",
        content=body,
        headers={
            "X-Hub-Signature-256": meta_signature(body, SECRET),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 200, r.text


async def test_a_customer_gets_a_grounded_answer_then_a_person(platform: dict[str, Any]) -> None:
    graph: FakeGraphAPI = platform["graph"]
    llm: FakeLLM = platform["llm"]
    async with httpx.AsyncClient(timeout=30) as client:
        # A business signs up, connects its number and uploads its delivery policy.
        r = await client.post(
            f"{platform['auth']}/api/auth/register",
            json={
                "email": f"{uuid.uuid4().hex}@bakery.example",
                "password": "correct horse battery",
                "name": "Lúcia",
                "business_name": "Padaria Lúcia",
            },
        )
        owner = bearer(r.json()["access_token"])
        r = await client.post(
            f"{platform['ingest']}/api/channels/whatsapp",
            headers=owner,
            json={
                "phone_number_id": PNID,
                "waba_id": graph.add_number(PNID).waba_id,
                "access_token": graph.token,
            },
        )
        assert r.status_code == 201 and r.json()["mode"] == "live"
        r = await client.post(
            f"{platform['knowledge']}/api/documents",
            headers=owner,
            files={"file": ("delivery-policy.txt", POLICY.encode(), "text/plain")},
        )
        doc = r.json()["id"]

        async def indexed() -> bool:
            got = await client.get(f"{platform['knowledge']}/api/documents/{doc}", headers=owner)
            return got.json()["status"] == "indexed"

        await eventually(indexed, timeout=60, interval=0.2)

        # The customer asks on WhatsApp; the answer reaches Meta, quoting the question.
        asked = f"wamid.{uuid.uuid4().hex}"
        await webhook(client, platform["gateway"], asked, "Olá! Do you deliver on Sundays?")

        def texts() -> list[Any]:
            return [r.json for r in graph.sends() if r.json.get("type") == "text"]

        [answer] = await eventually(lambda: asyncio.sleep(0, texts()), timeout=30)
        assert answer["to"] == "351911111111"
        assert (
            answer["text"]["body"] == "Yes! We deliver on *Sundays*, 9am to 1pm."
        )  # WhatsApp bold
        assert answer["context"]["message_id"] == asked
        # While the AI prepared the answer, Meta was told: read, typing shown.
        posts = [r.json for r in graph.requests if r.method == "POST"]
        assert posts.index(
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": asked,
                "typing_indicator": {"type": "text"},
            }
        ) < posts.index(answer)
        system = llm.requests[0]["messages"][0]["content"]
        assert "We deliver on Sundays between 9am and 1pm" in system  # grounded
        assert "Padaria Lúcia" in system

        conversations = (
            await client.get(f"{platform['ingest']}/api/conversations", headers=owner)
        ).json()["items"]
        [conversation] = conversations
        messages_url = f"{platform['ingest']}/api/conversations/{conversation['id']}/messages"

        async def ai_message_sent() -> list[Any]:
            items = (await client.get(messages_url, headers=owner)).json()["items"]
            return [m for m in items if m["author"] == "ai" and m["status"] == "sent"]

        await eventually(ai_message_sent, timeout=15)

        # Now the customer wants a person: the fallback goes out and the AI steps aside.
        await webhook(
            client,
            platform["gateway"],
            f"wamid.{uuid.uuid4().hex}",
            "Can I talk to a human please?",
        )
        await eventually(lambda: asyncio.sleep(0, len(texts()) >= 2), timeout=30)
        assert texts()[1]["text"]["body"].startswith("Thanks for your message!")
        assert len(llm.requests) == 1  # no model call for a handoff

        async def handed_over() -> bool:
            got = await client.get(
                f"{platform['ingest']}/api/conversations/{conversation['id']}", headers=owner
            )
            return got.json()["status"] == "handoff" and got.json()["ai_enabled"] is False

        await eventually(handed_over, timeout=15)

        async def figures() -> dict[str, Any] | None:
            got = (
                await client.get(f"{platform['responder']}/api/analytics/summary", headers=owner)
            ).json()
            return got if got["handoffs"] == 1 and got["median_first_response_ms"] else None

        summary = await eventually(figures, timeout=15)
        assert summary["messages_in"] == 2 and summary["ai_replies"] == 1
        assert summary["conversations"] == 1 and summary["tokens_in"] == 120

        # The AI is off in the conversation now: no read receipt, no typing, no answer.
        unanswered = f"wamid.{uuid.uuid4().hex}"
        await webhook(client, platform["gateway"], unanswered, "Hello? Anyone there?")

        async def stored() -> bool:
            items = (await client.get(messages_url, headers=owner)).json()["items"]
            return any(m["wamid"] == unanswered for m in items)

        await eventually(stored, timeout=15)
        await asyncio.sleep(1.0)  # time for a (wrong) hint to reach Meta
        read = [r.json["message_id"] for r in graph.read_receipts()]
        assert unanswered not in read and asked in read
        assert len(texts()) == 2
