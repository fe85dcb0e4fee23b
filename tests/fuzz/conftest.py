"""Each service started for real (its lifespan: schema, broker, relay) on 127.0.0.1, with the
run's Postgres and RabbitMQ, and a bearer token it accepts: what the OpenAPI fuzz and the
cross-tenant test call."""

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wa_testing.fakes import FakeGraphAPI, serve_app
from wa_testing.plugin import (
    TestKeyPair,
    bearer,
    eventually,
    free_port,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    remove_topology,
    service_settings,
)

SERVICES = ("gateway", "auth", "ingest", "knowledge", "responder")
INTERNAL_TOKEN = "fuzz-internal-token"
APP_SECRET = "fuzz-app-secret"


@dataclass
class Service:
    name: str
    app: FastAPI
    url: str
    keys: TestKeyPair
    graph: FakeGraphAPI | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def openapi(self) -> dict[str, Any]:
        return self.app.openapi()

    async def owner(self) -> dict[str, str]:
        """The headers of a fresh business's owner (auth: a registered one)."""
        if self.name != "auth":
            return bearer(self.keys.token(tenant_id=uuid.uuid4(), role="owner"))
        async with httpx.AsyncClient(base_url=self.url) as client:
            r = await client.post(
                "/api/auth/register",
                json={
                    "email": f"owner-{uuid.uuid4().hex[:12]}@example.com",
                    "password": "correct horse battery",
                    "name": "Fuzz Owner",
                    "business_name": "Fuzz Bakery",
                },
            )
            assert r.status_code == 201, r.text
            return bearer(r.json()["access_token"])


def _create_app(name: str, base: dict[str, Any], graph: FakeGraphAPI | None) -> FastAPI:
    if name == "gateway":
        from gateway.main import create_app as gateway
        from gateway.settings import GatewaySettings

        return gateway(service_settings(GatewaySettings, **base, whatsapp_app_secret=APP_SECRET))
    if name == "auth":
        from auth.main import create_app as auth
        from auth.settings import AuthSettings

        return auth(
            service_settings(
                AuthSettings,
                **base,
                internal_token=INTERNAL_TOKEN,
                admin_token="fuzz-admin-token",
                argon2_memory_kib=1024,  # cheap hashing: the bench measures the real cost
                register_limit_per_address=10_000,  # every business registers from 127.0.0.1
            )
        )
    if name == "ingest":
        from ingest.main import create_app as ingest
        from ingest.settings import IngestSettings

        assert graph is not None
        return ingest(
            service_settings(
                IngestSettings,
                **base,
                internal_token=INTERNAL_TOKEN,
                whatsapp_graph_url=graph.base_url,
                graph_timeout_s=5.0,
            )
        )
    if name == "knowledge":
        from knowledge.main import create_app as knowledge
        from knowledge.settings import KnowledgeSettings

        return knowledge(service_settings(KnowledgeSettings, **base, internal_token=INTERNAL_TOKEN))
    if name == "responder":
        from responder.main import create_app as responder
        from responder.settings import ResponderSettings

        return responder(
            service_settings(
                ResponderSettings,
                **base,
                internal_token=INTERNAL_TOKEN,
                # Nothing listens there: the preview answers without the knowledge, as when
                # knowledge is down.
                knowledge_url=f"http://127.0.0.1:{free_port()}",
                knowledge_timeout_s=1.0,
                quiet_period_s=0,
            )
        )
    raise ValueError(name)


StartService = Callable[[str], contextlib.AbstractAsyncContextManager[Service]]


@pytest.fixture
def start_service(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> StartService:
    """`async with start_service("ingest") as service`: served over HTTP on 127.0.0.1."""

    @contextlib.asynccontextmanager
    async def start(name: str) -> AsyncIterator[Service]:
        base = {
            "database_url": database_url,
            "amqp_url": amqp_url,
            "bus_prefix": bus_prefix,
            "keys": test_keys,
        }
        async with contextlib.AsyncExitStack() as stack:
            graph = None
            if name == "ingest":
                graph = await stack.enter_async_context(FakeGraphAPI().running())
            app = _create_app(name, base, graph)
            url = await stack.enter_async_context(serve_app(app))
            service = Service(name, app, url, test_keys, graph)
            if name == "ingest":  # Meta's messages reach ingest through the gateway
                gateway = _create_app("gateway", base, None)
                service.extra["gateway_url"] = await stack.enter_async_context(serve_app(gateway))
            declared: set[str] = set()
            try:
                yield service
            finally:
                bus = app.state.runtime.bus
                declared = set(bus.declared_consumers) if bus else set()
        if declared:
            await remove_topology(amqp_url, bus_prefix, declared, (100, 200))

    return start


# --- objects of a business, by the path parameter that names them ----------------------------

Create = Callable[[Service, dict[str, str]], Awaitable[str]]
IMAGE = b"\x89PNG\r\n\x1a\n" + b"fuzz" * 64


async def _post(service: Service, path: str, headers: dict[str, str], **kw: Any) -> Any:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        r = await client.post(path, headers=headers, **kw)
    assert r.status_code in (201, 202), f"POST {path}: {r.status_code} {r.text}"
    return r.json()


async def _get(service: Service, path: str, headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        r = await client.get(path, headers=headers)
    assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
    return r.json()


async def member(service: Service, owner: dict[str, str]) -> str:
    body = {
        "email": f"agent-{uuid.uuid4().hex[:12]}@example.com",
        "name": "Fuzz Agent",
        "password": "correct horse battery",
        "role": "agent",
    }
    return str((await _post(service, "/api/team/members", owner, json=body))["id"])


async def channel(service: Service, owner: dict[str, str]) -> str:
    """A live channel (Meta, the fake, knows its number): its customers can send media."""
    assert service.graph is not None
    pnid = str(uuid.uuid4().int)[:15]
    number = service.graph.add_number(pnid, waba_id=str(uuid.uuid4().int)[:15])
    body = {
        "phone_number_id": pnid,
        "waba_id": number.waba_id,
        "access_token": service.graph.token,
    }
    created = await _post(service, "/api/channels/whatsapp", owner, json=body)
    service.extra.setdefault("pnids", {})[created["id"]] = pnid
    return str(created["id"])


async def conversation_with_media(service: Service, owner: dict[str, str]) -> dict[str, Any]:
    """A customer's picture through the gateway, once ingest stored it: the conversation,
    its contact and the message (cached per business)."""
    cache = service.extra.setdefault("conversations", {})
    key = owner["Authorization"]
    if key in cache:
        return dict(cache[key])
    assert service.graph is not None
    pnid = service.extra["pnids"][await channel(service, owner)]
    media_id = f"MEDIA-{uuid.uuid4().hex[:8]}"
    service.graph.media[media_id] = (IMAGE, "image/png")
    image = {
        "from": str(uuid.uuid4().int)[:11],
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "image",
        "image": {"id": media_id, "mime_type": "image/png", "sha256": "x"},
    }
    raw = meta_json(notification(("WABA1", [messages_change(pnid, messages=[image])])))
    async with httpx.AsyncClient(base_url=service.extra["gateway_url"]) as gateway:
        r = await gateway.post(
            "/api/webhook/whatsapp",
            content=raw,
            headers={
                "X-Hub-Signature-256": meta_signature(raw, APP_SECRET),
                "Content-Type": "application/json",
            },
        )
    assert r.status_code == 200, r.text

    async def stored() -> dict[str, Any] | None:
        for conversation in (await _get(service, "/api/conversations", owner))["items"]:
            path = f"/api/conversations/{conversation['id']}/messages"
            for message in (await _get(service, path, owner))["items"]:
                if (message["media"] or {}).get("status") == "stored":
                    return {"conversation": conversation, "message": message}
        return None

    found: dict[str, Any] = await eventually(stored, timeout=30, interval=0.1)
    cache[key] = found
    return found


async def conversation(service: Service, owner: dict[str, str]) -> str:
    return str((await conversation_with_media(service, owner))["conversation"]["id"])


async def contact(service: Service, owner: dict[str, str]) -> str:
    return str((await conversation_with_media(service, owner))["conversation"]["contact"]["id"])


async def message(service: Service, owner: dict[str, str]) -> str:
    return str((await conversation_with_media(service, owner))["message"]["id"])


async def document(service: Service, owner: dict[str, str]) -> str:
    text = f"Opening hours {uuid.uuid4().hex}: we bake every day from 7 to 19.".encode()
    files = {"file": ("hours.txt", text, "text/plain")}
    return str((await _post(service, "/api/documents", owner, files=files))["id"])


async def prompt(service: Service, owner: dict[str, str]) -> str:
    body = {"name": f"prompt {uuid.uuid4().hex[:8]}", "body": "You serve {{ business_name }}."}
    return str((await _post(service, "/api/prompts", owner, json=body))["id"])


async def label(service: Service, owner: dict[str, str]) -> str:
    body = {"name": f"label {uuid.uuid4().hex[:8]}", "color": "#336699"}
    return str((await _post(service, "/api/labels", owner, json=body))["id"])


async def canned_reply(service: Service, owner: dict[str, str]) -> str:
    body = {"shortcut": f"s{uuid.uuid4().hex[:8]}", "text": "Hi {{customer_name}}!"}
    return str((await _post(service, "/api/canned-replies", owner, json=body))["id"])


# How to create, as a business, the object each path parameter names. A new route with an id
# of a new kind fails the cross-tenant test until its creator is added here.
CREATORS: dict[tuple[str, str], Create] = {
    ("auth", "user_id"): member,
    ("ingest", "channel_id"): channel,
    ("ingest", "conversation_id"): conversation,
    ("ingest", "contact_id"): contact,
    ("ingest", "message_id"): message,
    ("ingest", "label_id"): label,
    ("ingest", "reply_id"): canned_reply,
    ("knowledge", "document_id"): document,
    ("responder", "template_id"): prompt,
}


@pytest.fixture
def creators() -> dict[tuple[str, str], Create]:
    return CREATORS
