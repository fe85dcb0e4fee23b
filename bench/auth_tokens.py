"""auth on this machine: GET /api/auth/me throughput and latency on one worker, the cost of
verifying a token (cached JWKS), and login latency (argon2id with the production settings).

    make bench      (a throwaway database on DATABASE_URL's server; RabbitMQ from AMQP_URL)
"""

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import time
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from auth.main import SERVICE_DIR
from common.auth import CurrentPrincipal, JWKSVerifier
from common.db import Database, ensure_database
from common.migrations import upgrade
from wa_testing.plugin import ServiceProcess, asgi_client

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
DURATION_S = float(os.environ.get("BENCH_SECONDS", "8"))
CONCURRENCY = 32


def load(url: str, headers: dict[str, str]) -> str:
    """Requests/s and latency under CONCURRENCY connections, measured by wrk (C, so the
    load generator does not eat the server's CPU the way a Python client would)."""
    if shutil.which("wrk") is None:
        return "wrk not found: apt-get install -y wrk"
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{int(DURATION_S)}s", "--latency", url]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:7.0f} req/s  p50 {p50.group(1) if p50 else '?'}  "
        f"p99 {p99.group(1) if p99 else '?'}  non-2xx {bad.group(1) if bad else 0}"
    )


async def verification_cost(token: str, jwks: dict[str, object]) -> tuple[float, float]:
    """p50 of verify() alone, and the p50 a CurrentPrincipal adds to an in-process route."""
    verifier = JWKSVerifier(jwks=jwks, issuer="whatsapp-ai-auth", audience="whatsapp-ai")
    samples = []
    for _ in range(3000):
        start = time.perf_counter()
        await verifier.verify(token)
        samples.append(time.perf_counter() - start)
    app = FastAPI()
    app.state.verifier = verifier

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/guarded")
    async def guarded(principal: CurrentPrincipal) -> dict[str, bool]:
        return {"ok": True}

    async def p50(path: str) -> float:
        times = []
        async with asgi_client(app) as client:
            for _ in range(2000):
                start = time.perf_counter()
                await client.get(path, headers={"Authorization": f"Bearer {token}"})
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    added = await p50("/guarded") - await p50("/open")
    return statistics.median(samples) * 1000, added * 1000


async def main() -> None:
    name = f"wa_bench_auth_{uuid.uuid4().hex[:8]}"
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    await ensure_database(db_url)
    await asyncio.to_thread(upgrade, SERVICE_DIR, db_url)
    env = {
        "DATABASE_URL": db_url,
        "AMQP_URL": AMQP_URL,
        "BUS_PREFIX": f"bench.{name}.",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "test",
    }
    auth = ServiceProcess("auth.main:create_app", env).start()
    try:
        email, password = f"{uuid.uuid4().hex}@example.com", "correct horse battery"
        async with httpx.AsyncClient(base_url=auth.url, timeout=10) as client:
            r = await client.post(
                "/api/auth/register",
                json={
                    "email": email,
                    "password": password,
                    "name": "Bench",
                    "business_name": "Bench",
                },
            )
            token = r.json()["access_token"]
            jwks = (await client.get("/.well-known/jwks.json")).json()

            async def login_p50(email_: str, password_: str, expect: int) -> float:
                times = []
                for _ in range(25):
                    start = time.perf_counter()
                    r = await client.post(
                        "/api/auth/login", json={"email": email_, "password": password_}
                    )
                    times.append(time.perf_counter() - start)
                    assert r.status_code == expect, r.text
                return statistics.median(times) * 1000

            ok = await login_p50(email, password, 200)
            # Rate limits count failures: stay under the per-email limit (10 / 15 min).
            wrong_times = []
            for _ in range(8):
                start = time.perf_counter()
                await client.post(
                    "/api/auth/login", json={"email": email, "password": "wrong pass"}
                )
                wrong_times.append(time.perf_counter() - start)
            unknown_times = []
            for i in range(8):
                start = time.perf_counter()
                await client.post(
                    "/api/auth/login", json={"email": f"x{i}{email}", "password": "wrong pass"}
                )
                unknown_times.append(time.perf_counter() - start)

        me = load(f"{auth.url}/api/auth/me", {"Authorization": f"Bearer {token}"})
        verify_ms, added_ms = await verification_cost(token, jwks)
        print(
            f"machine: {os.cpu_count()} cores; auth on one uvicorn worker; {CONCURRENCY} connections"
        )
        print(f"GET /api/auth/me (wrk, {DURATION_S:.0f} s): {me}")
        print(
            f"token verification (cached JWKS, EdDSA): verify() p50 {verify_ms:.3f} ms; "
            f"CurrentPrincipal adds {added_ms:.3f} ms p50 to a route"
        )
        print(
            f"login p50 {ok:6.1f} ms (argon2id 46 MiB, t=1, p=1); wrong password p50 "
            f"{statistics.median(wrong_times) * 1000:6.1f} ms; unknown email p50 "
            f"{statistics.median(unknown_times) * 1000:6.1f} ms"
        )
    finally:
        auth.stop()
        admin = Database(SERVER_URL, pool_size=1)
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'drop database if exists "{name}" with (force)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
