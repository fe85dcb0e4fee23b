"""The dashboard in a real browser: Debian's Chromium driven by playwright-core
(dashboard/e2e/run.mjs), against the real services and the real Next.js server.

The services (gateway included) run on the run's throwaway database and broker with the
offline responder (no LLM key: it answers from the knowledge base). Meta's Graph API is
wa_testing.fakes.FakeGraphAPI, for the specs that send signed webhooks (e2e/whatsapp.mjs).
The dashboard is built when its sources changed (scripts/dashboard.py), then served by
`next start` on a free port. Screenshots go to $SCREENSHOTS when set (`make screenshots`
refreshes docs/screenshots/), else to a temp folder.
"""

import asyncio
import importlib.util
import itertools
import os
import secrets
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wa_testing.fakes import FakeGraphAPI, serve_app
from wa_testing.plugin import ServiceProcess, free_port, remove_topology

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Renew any token older than 2 s (tokens last 7 days): renewal then runs all through the test.
RENEW = {"SESSION_RENEW_BEFORE_S": str(7 * 24 * 3600 - 2)}


def _dashboard_module() -> Any:
    spec = importlib.util.spec_from_file_location("dashboard_build", ROOT / "scripts/dashboard.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECRET = "e2e-app-secret"
# The team group's account (e2e/team.mjs): its own number, so the whatsapp group's stays free,
# with the templates a closed window is answered with.
TEAM_WABA_ID = "100000000000777"


def team_templates(graph: FakeGraphAPI) -> None:
    graph.add_template(
        TEAM_WABA_ID,
        "order_ready",
        language="en_US",
        body="Hi {{1}}, your order {{2}} is ready for pickup.",
        header={"format": "TEXT", "text": "Lumen Bikes"},
    )
    graph.add_template(TEAM_WABA_ID, "spring_sale", status="PENDING", category="MARKETING")


def inspection(graph: FakeGraphAPI) -> FastAPI:
    """What the fake Graph API received, for the browser specs (they run in another process)."""
    app = FastAPI()

    @app.get("/sends")
    async def sends() -> list[dict[str, Any]]:
        return [
            {"path": r.path, "json": r.json, "wamid": r.wamid, "status_code": r.status_code}
            for r in graph.sends()
        ]

    return app


MEDIA_IMAGE_ID = "media-e2e-image"


def png(width: int = 240, height: int = 160) -> bytes:
    """A small green PNG: the photo a customer sends."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x25\xd3\x66" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def platform(
    database_url: str, amqp_url: str, bus_prefix: str
) -> AsyncIterator[dict[str, str]]:
    """Every service; Meta's Graph API is a fake whose first send fails (error 131047)."""
    # Its wamids count from a random start: the run's database is shared with other tests
    # whose fake also sent "wamid.FAKE1", and a status of the same wamid would be a duplicate.
    graph = FakeGraphAPI(_ids=itertools.count(secrets.randbelow(10**9) + 10**6))
    graph.media[MEDIA_IMAGE_ID] = (png(), "image/png")
    # The live number the specs connect: Meta (the fake) must confirm it for the token.
    number = graph.add_number(str(10**11 + secrets.randbelow(9 * 10**11)))
    team = graph.add_number(str(10**11 + secrets.randbelow(9 * 10**11)), waba_id=TEAM_WABA_ID)
    team_templates(graph)
    # A second live number whose account has templates: the pages group connects it on the
    # Channels page (templates listed, synced, one chosen for re-engagement).
    templated = graph.add_number(
        str(10**11 + secrets.randbelow(9 * 10**11)),
        waba_id=str(10**14 + secrets.randbelow(9 * 10**14)),
    )
    graph.add_template(
        templated.waba_id, "order_ready", body="Hi {{1}}, your order {{2}} is ready for pickup."
    )
    graph.add_template(
        templated.waba_id,
        "summer_sale",
        status="PENDING",
        category="MARKETING",
        body="Our summer sale starts Monday.",
    )
    graph.fail_next(
        131047,
        details="Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    )
    base = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "BUS_PREFIX": bus_prefix,
        "INTERNAL_TOKEN": "e2e-internal",
        "OUTBOX_POLL_INTERVAL_S": "0.1",
        "LLM_API_KEY": "",  # the offline responder
        "QUIET_PERIOD_S": "0",
    }
    started: list[ServiceProcess] = []
    async with graph.running(), serve_app(inspection(graph)) as inspect_url:
        try:
            auth = ServiceProcess("auth.main:create_app", base).start()
            started.append(auth)
            env = {
                **base,
                "AUTH_JWKS_URL": f"{auth.url}/.well-known/jwks.json",
                "WHATSAPP_APP_SECRET": SECRET,
                "WHATSAPP_GRAPH_URL": graph.base_url,
            }
            for name in ("ingest", "knowledge"):
                started.append(ServiceProcess(f"{name}.main:create_app", env).start(timeout=90))
            knowledge = started[-1]
            started.append(
                ServiceProcess(
                    "responder.main:create_app", {**env, "KNOWLEDGE_URL": knowledge.url}
                ).start()
            )
            started.append(ServiceProcess("gateway.main:create_app", env).start())
            yield {
                "AUTH_URL": started[0].url,
                "INGEST_URL": started[1].url,
                "KNOWLEDGE_URL": started[2].url,
                "RESPONDER_URL": started[3].url,
                "GATEWAY_URL": started[4].url,
                "GRAPH_TOKEN": graph.token,
                "GRAPH_PNID": number.phone_number_id,
                "GRAPH_WABA_ID": number.waba_id,
                "GRAPH_TEAM_PNID": team.phone_number_id,
                "GRAPH_TEAM_WABA_ID": team.waba_id,
                "GRAPH_INSPECT_URL": inspect_url,
                "TEMPLATES_PNID": templated.phone_number_id,
                "TEMPLATES_WABA_ID": templated.waba_id,
            }
        finally:
            (ROOT / ".run").mkdir(exist_ok=True)
            for process in started:  # the tail shown by pytest when the test fails
                output = process.stop()
                name = process.factory.split(".", 1)[0]
                (ROOT / ".run" / f"dashboard-e2e-{name}.log").write_text(output)
                print(f"--- {process.factory} (all of it: .run/dashboard-e2e-{name}.log)")
                print(output[-4000:])
    await remove_topology(amqp_url, bus_prefix, set())


@pytest.fixture
def dashboard_url(platform: dict[str, str]) -> Iterator[str]:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    assert not missing, f"the dashboard tests need {missing} (Node.js ≥ 20.9): see the README"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `apt-get install -y chromium`"
    dashboard = _dashboard_module()
    dashboard.ensure_built()
    port = free_port()
    (ROOT / ".run").mkdir(exist_ok=True)
    log = (ROOT / ".run" / "dashboard-e2e.log").open("wb")
    services = {
        k: v
        for k, v in platform.items()
        if k not in ("GATEWAY_URL", "GRAPH_INSPECT_URL") and k.endswith("_URL")
    }
    server = dashboard.start(port, {**services, **RENEW}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "next start exited: see .run/dashboard-e2e.log"
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


async def test_dashboard_in_a_real_browser(
    platform: dict[str, str], dashboard_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **RENEW,
        "GATEWAY_URL": platform["GATEWAY_URL"],
        "GRAPH_TOKEN": platform["GRAPH_TOKEN"],
        "GRAPH_PNID": platform["GRAPH_PNID"],
        "GRAPH_WABA_ID": platform["GRAPH_WABA_ID"],
        "GRAPH_TEAM_PNID": platform["GRAPH_TEAM_PNID"],
        "GRAPH_TEAM_WABA_ID": platform["GRAPH_TEAM_WABA_ID"],
        "GRAPH_INSPECT_URL": platform["GRAPH_INSPECT_URL"],
        "TEMPLATES_PNID": platform["TEMPLATES_PNID"],
        "TEMPLATES_WABA_ID": platform["TEMPLATES_WABA_ID"],
        "WHATSAPP_APP_SECRET": SECRET,
        "MEDIA_IMAGE_ID": MEDIA_IMAGE_ID,
        "BASE_URL": dashboard_url,
        "CHROMIUM": CHROMIUM,
        "SCREENSHOTS": os.environ.get("SCREENSHOTS") or str(tmp_path / "screenshots"),
        "FAILURES": str(ROOT / ".run" / "dashboard-e2e-failures"),
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        "e2e/run.mjs",
        cwd=ROOT / "dashboard",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=900)
    finally:
        if process.returncode is None:
            process.kill()
    output = raw.decode(errors="replace")
    print(output[-20000:])
    assert process.returncode == 0, f"browser specs failed:\n{output[-10000:]}"
    assert "specs passed" in output
    assert "\nskip " not in output, "every spec group ran"
    # The pages the browser just used carry the security headers (and still worked under them).
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{dashboard_url}/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in page.headers  # plain HTTP here
        behind_tls = await client.get(
            f"{dashboard_url}/login", headers={"x-forwarded-proto": "https"}
        )
        assert behind_tls.headers["strict-transport-security"].startswith("max-age=")
