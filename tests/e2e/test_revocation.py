"""Issue 12, finding 2: a removed member's token stopped working only at auth; elsewhere it
lived until it expired (7 days), open live streams ran on, and a removed admin could still
add members (a new admin: permanent access). Every service over real HTTP and the broker;
the others configured as in production (only auth's JWKS URL)."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from auth.main import SERVICE_DIR as AUTH_DIR
from auth.main import create_app as create_auth
from auth.settings import AuthSettings
from ingest.main import SERVICE_DIR as INGEST_DIR
from ingest.main import create_app as create_ingest
from ingest.settings import IngestSettings
from knowledge.main import SERVICE_DIR as KNOWLEDGE_DIR
from knowledge.main import create_app as create_knowledge
from knowledge.settings import KnowledgeSettings
from responder.main import SERVICE_DIR as RESPONDER_DIR
from responder.main import create_app as create_responder
from responder.settings import ResponderSettings
from wa_testing.fakes import serve_app
from wa_testing.plugin import TestKeyPair, bearer, eventually, migrated_database, service_settings

pytestmark = pytest.mark.e2e
INTERNAL = "e2e-revocation-internal"
PASSWORD = "correct horse battery"
# One route of each service that any member may call.
PROBES = {
    "ingest": "/api/conversations",
    "knowledge": "/api/documents",
    "responder": "/api/ai/settings",
}
SERVICE_DIRS = (AUTH_DIR, INGEST_DIR, KNOWLEDGE_DIR, RESPONDER_DIR)


@pytest.fixture
def settings_for(database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair) -> Any:
    # Migrated here, outside the test's event loop (migrations run their own).
    migrated = {d: migrated_database(database_url, d) for d in SERVICE_DIRS}

    def make(cls: type[Any], service_dir: Any, **overrides: Any) -> Any:
        return service_settings(
            cls,
            database_url=migrated[service_dir],
            amqp_url=amqp_url,
            bus_prefix=bus_prefix,
            keys=test_keys,
            internal_token=INTERNAL,
            **overrides,
        )

    return make


@contextlib.asynccontextmanager
async def verifying_service(settings_for: Any, name: str, auth_url: str) -> AsyncIterator[str]:
    """One of ingest/knowledge/responder, verifying with auth's JWKS URL only."""
    cls, service_dir, factory = {
        "ingest": (IngestSettings, INGEST_DIR, create_ingest),
        "knowledge": (KnowledgeSettings, KNOWLEDGE_DIR, create_knowledge),
        "responder": (ResponderSettings, RESPONDER_DIR, create_responder),
    }[name]
    settings = settings_for(
        cls,
        service_dir,
        auth_jwks_json=None,
        auth_jwks_url=f"{auth_url}/.well-known/jwks.json",
        sse_heartbeat_s=0.5,
    )
    async with serve_app(factory(settings)) as url:
        yield url


async def test_a_removed_member_is_refused_everywhere_within_a_second(settings_for: Any) -> None:
    auth_settings = settings_for(AuthSettings, AUTH_DIR, argon2_memory_kib=1024)
    async with contextlib.AsyncExitStack() as stack:
        auth_url = await stack.enter_async_context(serve_app(create_auth(auth_settings)))
        urls = {
            name: await stack.enter_async_context(verifying_service(settings_for, name, auth_url))
            for name in PROBES
        }
        auth = await stack.enter_async_context(httpx.AsyncClient(base_url=auth_url, timeout=10))
        clients = {
            name: await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
            for name, url in urls.items()
        }

        registered = await auth.post(
            "/api/auth/register",
            json={
                "email": f"{uuid.uuid4().hex}@example.com",
                "password": PASSWORD,
                "name": "Owner",
                "business_name": "Bakery",
            },
        )
        assert registered.status_code == 201, registered.text
        owner = bearer(registered.json()["access_token"])

        async def member(role: str) -> tuple[str, dict[str, str]]:
            email = f"{role}-{uuid.uuid4().hex}@example.com"
            body = {"email": email, "name": role, "password": PASSWORD, "role": role}
            added = await auth.post("/api/team/members", json=body, headers=owner)
            assert added.status_code == 201, added.text
            login = await auth.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            return added.json()["id"], bearer(login.json()["access_token"])

        agent_id, agent = await member("agent")
        admin_id, admin = await member("admin")
        for name, path in PROBES.items():
            for who in (agent, admin):
                assert (await clients[name].get(path, headers=who)).status_code == 200, name

        # The agent watches the live stream.
        token = agent["Authorization"].removeprefix("Bearer ")
        stream_cm = clients["ingest"].stream(
            "GET", "/api/events/stream", params={"access_token": token}
        )
        stream = await stack.enter_async_context(stream_cm)
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert "retry: 3000" in await asyncio.wait_for(anext(lines), 5)

        async def ended() -> float:
            async for _ in lines:
                pass
            return time.monotonic()

        stream_end = asyncio.create_task(ended())

        removed_at = time.monotonic()
        for user_id in (agent_id, admin_id):
            r = await auth.delete(f"/api/team/members/{user_id}", headers=owner)
            assert r.status_code == 204

        async def refused_everywhere() -> bool:
            for name, path in PROBES.items():
                for who in (agent, admin):
                    if (await clients[name].get(path, headers=who)).status_code != 401:
                        return False
            return True

        assert await eventually(refused_everywhere, timeout=1.0)
        refused_after = time.monotonic() - removed_at
        r = await clients["knowledge"].get("/api/documents", headers=agent)
        assert r.json() == {"detail": "this account was removed"}
        ended_at = await asyncio.wait_for(stream_end, timeout=1.0)
        assert ended_at - removed_at < 1.0

        # The removed admin cannot mint a new admin (that would be access for good).
        minted = await auth.post(
            "/api/team/members",
            json={
                "email": f"{uuid.uuid4().hex}@example.com",
                "name": "Backdoor",
                "password": PASSWORD,
                "role": "admin",
            },
            headers=admin,
        )
        assert minted.status_code == 401, minted.text

        # The owner is untouched.
        for name, path in PROBES.items():
            assert (await clients[name].get(path, headers=owner)).status_code == 200

        # A replica started after the event went by learns it from auth's durable list.
        late_url = await stack.enter_async_context(
            verifying_service(settings_for, "responder", auth_url)
        )
        late = await stack.enter_async_context(httpx.AsyncClient(base_url=late_url, timeout=10))
        assert (await late.get(PROBES["responder"], headers=agent)).status_code == 401
        assert (await late.get(PROBES["responder"], headers=owner)).status_code == 200
        print(f"refused at every service {refused_after * 1000:.0f} ms after the removal")
