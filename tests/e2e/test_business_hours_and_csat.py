"""Business hours and CSAT through every real process (issue 14): a business closed today
(a holiday in its own time zone) answers each conversation with ONE auto-reply per closed
period, then hands off or lets the AI answer as it chose; a resolved conversation asks for a
rating with reply buttons and the customer's tap is the conversation's CSAT, in analytics.

Meta's Graph API and the LLM are real HTTP servers (wa_testing.fakes); auth, gateway, ingest,
knowledge and responder are real uvicorn processes on the run's database and broker, and
every customer message is a signed webhook through the gateway.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from wa_testing.fakes import FakeGraphAPI, FakeLLM, GraphRequest, serve_app
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
PNID = f"78{uuid.uuid4().int % 10**10:010d}"
# UTC+14: "today" there is often tomorrow in UTC, so a holiday only closes the business when
# the responder reads the day in the business's zone.
ZONE = "Pacific/Kiritimati"
AUTO_REPLY = "We are closed today for the holiday. A person will answer tomorrow."
AI_ANSWER = "Our shop on Harbour Street opens at 9 from Monday to Saturday."
POLICY = (
    "Opening hours\n\nThe Lumen Bikes shop on Harbour Street opens at 9:00 from Monday to "
    "Saturday and closes at 18:30.\n\nRepairs\n\nA puncture repair costs 12 euros."
)
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
async def platform(
    database_url: str, amqp_url: str, bus_prefix: str
) -> AsyncIterator[dict[str, Any]]:
    graph, llm = FakeGraphAPI(), FakeLLM(answer=AI_ANSWER)
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


async def post_webhook(client: httpx.AsyncClient, gateway: str, message: dict[str, Any]) -> bytes:
    """One signed webhook of `message` from its sender, as Meta sends it; returns the body
    (posting the same bytes again is Meta's redelivery)."""
    body = meta_json(
        notification(
            (
                "WABA",
                [
                    messages_change(
                        PNID,
                        contacts=[{"profile": {"name": "Customer"}, "wa_id": message["from"]}],
                        messages=[message],
                    )
                ],
            )
        )
    )
    await post_body(client, gateway, body)
    return body


async def post_body(client: httpx.AsyncClient, gateway: str, body: bytes) -> None:
    r = await client.post(
        f"{gateway}/api/webhook/whatsapp",
        content=body,
        headers={
            "X-Hub-Signature-256": meta_signature(body, SECRET),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 200, r.text


def says(wa_id: str, text: str) -> dict[str, Any]:
    return text_message(f"wamid.{uuid.uuid4().hex}", wa_id, text, timestamp=int(time.time()))


def taps(wa_id: str, button: str, question_wamid: str | None) -> dict[str, Any]:
    """The customer's tap on one of the rating question's reply buttons."""
    return {
        "from": wa_id,
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "context": {"from": "15550783881", "id": question_wamid},
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": button, "title": "😀 Great"},
        },
    }


async def quiet(seconds: float = 1.5) -> None:
    """Time for a wrong extra send (a second auto-reply, an AI answer) to reach the fake."""
    await asyncio.sleep(seconds)


async def test_closed_business_auto_replies_once_then_hands_off_or_answers_and_collects_csat(
    platform: dict[str, Any],
) -> None:
    graph: FakeGraphAPI = platform["graph"]
    llm: FakeLLM = platform["llm"]
    ingest, responder = platform["ingest"], platform["responder"]
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{platform['auth']}/api/auth/register",
            json={
                "email": f"{uuid.uuid4().hex}@lumen.example",
                "password": "correct horse battery",
                "name": "Olga Owner",
                "business_name": "Lumen Bikes",
            },
        )
        assert r.status_code == 201, r.text
        owner = bearer(r.json()["access_token"])
        owner_id = r.json()["user"]["id"]
        r = await client.post(
            f"{ingest}/api/channels/whatsapp",
            headers=owner,
            json={
                "phone_number_id": PNID,
                "waba_id": graph.add_number(PNID).waba_id,
                "access_token": graph.token,
            },
        )
        assert r.status_code == 201 and r.json()["mode"] == "live", r.text
        r = await client.post(
            f"{platform['knowledge']}/api/documents",
            headers=owner,
            files={"file": ("handbook.txt", POLICY.encode(), "text/plain")},
        )
        doc = r.json()["id"]

        async def indexed() -> bool:
            got = await client.get(f"{platform['knowledge']}/api/documents/{doc}", headers=owner)
            return got.json()["status"] == "indexed"

        await eventually(indexed, timeout=60, interval=0.2)

        # Open all week, but today (and tomorrow, should the test cross midnight there) is a
        # holiday in the business's own zone: closed now, one closed period.
        today = datetime.now(ZoneInfo(ZONE)).date()
        hours = {
            "timezone": ZONE,
            "weekly": ALL_DAY,
            "holidays": [today.isoformat(), (today + timedelta(days=1)).isoformat()],
            "auto_reply": AUTO_REPLY,
            "outside_hours": "handoff",
        }
        r = await client.put(f"{responder}/api/business-hours", headers=owner, json=hours)
        assert r.status_code == 200, r.text
        assert r.json() == hours

        def texts(to: str) -> list[str]:
            return [
                s.json["text"]["body"]
                for s in graph.sends()
                if s.json.get("type") == "text" and s.json.get("to") == to
            ]

        async def conversation_of(wa_id: str) -> dict[str, Any]:
            async def found() -> dict[str, Any] | None:
                items = (await client.get(f"{ingest}/api/conversations", headers=owner)).json()
                return next((c for c in items["items"] if c["contact"]["wa_id"] == wa_id), None)

            return await eventually(found, timeout=15)

        async def conversation(cid: str) -> dict[str, Any]:
            r = await client.get(f"{ingest}/api/conversations/{cid}", headers=owner)
            assert r.status_code == 200, r.text
            return r.json()

        async def thread(cid: str) -> list[dict[str, Any]]:
            r = await client.get(f"{ingest}/api/conversations/{cid}/messages", headers=owner)
            return r.json()["items"]

        async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
            return await eventually(check, timeout=timeout, interval=0.1)

        # --- "handoff": two messages in the closed period, the first delivered twice --------
        ana = "351910000001"
        first = says(ana, "Hello, can I pick up my bike today?")
        body = await post_webhook(client, platform["gateway"], first)
        await post_body(client, platform["gateway"], body)  # Meta's redelivery
        await until(lambda: asyncio.sleep(0, texts(ana)))
        handed = await conversation_of(ana)

        async def handed_off() -> bool:
            c = await conversation(handed["id"])
            return c["status"] == "handoff" and c["ai_enabled"] is False

        await until(handed_off)
        second = says(ana, "Hello? Anyone there?")
        await post_webhook(client, platform["gateway"], second)

        async def both_stored() -> bool:
            wamids = {m["wamid"] for m in await thread(handed["id"])}
            return {first["id"], second["id"]} <= wamids

        await until(both_stored)
        await quiet()
        # Exactly one auto-reply, quoting the first message; no AI answer, no model call.
        assert texts(ana) == [AUTO_REPLY]
        [auto] = [s.json for s in graph.sends() if s.json.get("to") == ana]
        assert auto["context"]["message_id"] == first["id"]
        assert llm.requests == []
        c = await conversation(handed["id"])
        assert c["status"] == "handoff" and c["handoff_reason"] == "outside business hours"
        items = await thread(handed["id"])
        # (Sorted: Meta's whole-second timestamps can put the second question before our
        # reply of the same second, as the API orders by created_at.)
        assert sorted((m["direction"], m["author"], m["text"]) for m in items) == [
            ("inbound", "customer", first["text"]["body"]),
            ("inbound", "customer", second["text"]["body"]),
            ("outbound", "ai", AUTO_REPLY),
        ], "the redelivered webhook stored nothing twice"

        # --- "answer": the auto-reply, and the AI answers as well --------------------------
        r = await client.put(
            f"{responder}/api/business-hours", headers=owner, json={"outside_hours": "answer"}
        )
        assert r.status_code == 200 and r.json()["outside_hours"] == "answer", r.text
        bea = "351910000002"
        asked = says(bea, "When does the shop on Harbour Street open?")
        await post_webhook(client, platform["gateway"], asked)
        await until(lambda: asyncio.sleep(0, len(texts(bea)) >= 2 or None))
        await quiet()
        assert sorted(texts(bea)) == sorted([AUTO_REPLY, AI_ANSWER])
        assert len(llm.requests) == 1
        answered = await conversation_of(bea)
        assert (await conversation(answered["id"]))["status"] == "open"

        async def ai_answer_sent() -> bool:
            return any(
                m["author"] == "ai" and m["text"] == AI_ANSWER and m["status"] == "sent"
                for m in await thread(answered["id"])
            )

        await until(ai_answer_sent)

        # --- CSAT: resolve → the buttons go out; the tap is the rating ----------------------
        r = await client.put(
            f"{responder}/api/csat",
            headers=owner,
            json={"enabled": True, "question": "How did we do today?"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "enabled": True,
            "question": "How did we do today?",
            "template_name": None,
        }

        async def rate(cid: str, wa_id: str, score: int) -> None:
            r = await client.patch(
                f"{ingest}/api/conversations/{cid}", headers=owner, json={"status": "resolved"}
            )
            assert r.status_code == 200 and r.json()["status"] == "resolved", r.text

            async def asked() -> GraphRequest | None:
                return next((s for s in graph.interactive_sends() if s.json["to"] == wa_id), None)

            question = await until(asked)
            interactive = question.json["interactive"]
            assert interactive["type"] == "button"
            assert interactive["body"]["text"] == "How did we do today?"
            assert [b["reply"]["id"] for b in interactive["action"]["buttons"]] == [
                "csat:3",
                "csat:2",
                "csat:1",
            ]
            sends_before, model_calls = len(graph.sends()), len(llm.requests)
            await post_webhook(
                client, platform["gateway"], taps(wa_id, f"csat:{score}", question.wamid)
            )

            async def rated() -> dict[str, Any] | None:
                c = await conversation(cid)
                return c if (c.get("csat") or {}).get("score") == score else None

            c = await until(rated)
            assert c["status"] == "resolved", "a rating reopens nothing"
            await quiet()
            assert len(graph.sends()) == sends_before, "no answer to a rating tap"
            assert len(llm.requests) == model_calls

        # The AI answered this one alone: an AI-resolved Great.
        await rate(answered["id"], bea, 3)
        # The handed-off one, assigned to the owner: a human-resolved Poor, by that agent.
        r = await client.patch(
            f"{ingest}/api/conversations/{handed['id']}",
            headers=owner,
            json={"assignee_id": owner_id},
        )
        assert r.status_code == 200 and r.json()["assignee_id"] == owner_id, r.text
        await rate(handed["id"], ana, 1)

        async def counted() -> dict[str, Any] | None:
            got = (await client.get(f"{responder}/api/analytics/csat", headers=owner)).json()
            return got if got["responses"] == 2 else None

        figures = await until(counted)
        assert figures["percent"] == 50.0
        assert figures["ai"] == {"responses": 1, "percent": 100.0}
        assert figures["human"] == {"responses": 1, "percent": 0.0}
        assert figures["by_agent"] == [{"agent_id": owner_id, "responses": 1, "percent": 0.0}]
        summary = (await client.get(f"{responder}/api/analytics/summary", headers=owner)).json()
        assert summary["csat_responses"] == 2 and summary["csat_percent"] == 50.0
        # Nothing more went to the customers than the auto-replies, the answer and the two
        # questions.
        assert texts(ana) == [AUTO_REPLY] and sorted(texts(bea)) == sorted([AUTO_REPLY, AI_ANSWER])
        assert len(graph.interactive_sends()) == 2
