"""The gateway on one uvicorn worker process: sustained webhook requests/s (every event
confirmed by the broker before the 200) and p50/p99 latency at a fixed 1,000 requests/s.

make bench   (uses AMQP_URL; isolated by a queue prefix)
BENCH_SECONDS=10 BENCH_RATE=1000 BENCH_CONCURRENCY=64 to change the run.

Side by side in the same run, the gateway and `bench/minimal_gateway.py` (the least a correct
receiver does: raw-body HMAC, one confirmed persistent publish) take the same sustained load in
turns (`BENCH_ROUNDS`, default 2 each), and the bench prints each one's requests/s and CPU per
webhook, and the gateway's ratio to the baseline (target: >= 1.0x, i.e. no more CPU per
webhook than the baseline).

The load comes from `wrk` when it is installed (`apt-get install wrk`; C, it leaves the cores
to the gateway and the broker), else from an open-loop asyncio generator in this process,
which costs more CPU than the gateway on a small machine: figures from it are a lower bound.
At a fixed rate, wrk is paced wrk2-style by a Lua schedule: request n leaves at n/RATE
seconds (or at once when late), whichever connection is free, so a slow answer does not
lower the offered rate. The gateway's own CPU time per request is printed too (steadier
than latency on a shared machine).
"""

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from common.bus import Bus, Subscription
from common.events import Envelope
from wa_testing.plugin import (
    ServiceProcess,
    messages_change,
    meta_json,
    meta_signature,
    notification,
    remove_topology,
    text_message,
)

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
SECRET = "bench-app-secret"
CONSUMER = "bench.gateway-sink"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def request(i: int, run: str) -> tuple[bytes, dict[str, str]]:
    body = meta_json(
        notification(
            (
                "WABA1",
                [
                    messages_change(
                        "106540352242922",
                        contacts=[{"profile": {"name": "Zoë"}, "wa_id": "16505551234"}],
                        messages=[
                            text_message(f"wamid.{run}.{i}", "16505551234", f"Olá 👋 pedido {i}")
                        ],
                    )
                ],
            )
        )
    )
    return body, {
        "X-Hub-Signature-256": meta_signature(body, SECRET),
        "Content-Type": "application/json",
    }


class Connection:
    """A keep-alive HTTP/1.1 connection that POSTs prepared requests. httpx costs more CPU per
    request than the gateway does: with it, the load generator would be what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def raw_request(i: int, run: str, host: str) -> bytes:
    body, headers = request(i, run)
    lines = [
        b"POST /api/webhook/whatsapp HTTP/1.1",
        f"Host: {host}".encode(),
        f"Content-Length: {len(body)}".encode(),
        *(f"{k}: {v}".encode() for k, v in headers.items()),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def sustained(pool: list[Connection], raws: list[bytes]) -> tuple[int, float, int]:
    """As many requests as the connections can push for SECONDS: (ok, elapsed, errors)."""
    deadline = time.perf_counter() + SECONDS
    ok = errors = 0
    counter = 0

    async def worker(conn: Connection) -> None:
        nonlocal ok, errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            if await conn.post(raws[counter % len(raws)]) == 200:
                ok += 1
            else:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    return ok, time.perf_counter() - start, errors


async def fixed_rate(pool: list[Connection], raws: list[bytes]) -> tuple[list[float], int, float]:
    """Open loop at RATE req/s; latency counted from each request's scheduled start, so a
    stall shows in every request it delays (no coordinated omission)."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        free.put_nowait(conn)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / RATE
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await free.get()
        try:
            status = await conn.post(raws[i])
        finally:
            free.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        if status != 200:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(len(raws))))
    achieved = len(raws) / (time.perf_counter() - start)
    return latencies, errors, achieved


PACED_LUA = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_ts; int clock_gettime(int, bench_ts *); ]]
local ts = ffi.new("bench_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval, due = %.6f, nil
function delay()
  local now = now_ms()
  if due == nil then due = now end
  due = due + interval
  if due < now then return 0 end
  return due - now
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str, body: bytes, headers: dict[str, str], *, connections: int, rate: int = 0
) -> dict[str, float]:
    """Run wrk against the webhook; with `rate`, each connection paces itself to share it."""
    script = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(body.decode())}",
        *(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
    ]
    if rate:
        # One schedule for all connections (one wrk thread): request n is due at n/rate s; a
        # free connection waits for the next slot, a late one goes at once (wrk2-style).
        script.append(PACED_LUA % (1000 / rate))
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write("\n".join(script) + "\n")
        lua.flush()
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{SECONDS:.0f}s",
                "--latency",
                "-s",
                lua.name,
                f"{url}/api/webhook/whatsapp",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


async def side_by_side(prefix: str, run: str) -> None:
    """The gateway and the minimal baseline under the same sustained load, in turns."""
    env = {
        "AMQP_URL": AMQP_URL,
        "BUS_PREFIX": prefix,
        "WHATSAPP_APP_SECRET": SECRET,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [BENCH_DIR, os.environ.get("PYTHONPATH")])),
    }
    targets = {"gateway": "gateway.main:create_app", "minimal": "minimal_gateway:create_app"}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for round_ in range(ROUNDS):
        for name, factory in targets.items():
            process = ServiceProcess(factory, env).start()
            assert process.process is not None
            host = process.url.removeprefix("http://")
            hostname, port = host.split(":")
            pool = [await Connection.open(hostname, int(port)) for _ in range(CONCURRENCY)]
            try:
                raws = [raw_request(i, f"{run}{name}{round_}", host) for i in range(2000)]
                await sustained(pool, raws[:200])  # warm-up
                cpu = cpu_seconds(process.process.pid)
                ok, elapsed, errors = await sustained(pool, raws)
                assert errors == 0, f"{name}: {errors} errors"
                cpu_ms = (cpu_seconds(process.process.pid) - cpu) / ok * 1000
                figures[name].append((ok / elapsed, cpu_ms))
            finally:
                for conn in pool:
                    conn.close()
                process.stop()
    medians = {
        name: (
            statistics.median(r for r, _ in runs),
            statistics.median(c for _, c in runs),
        )
        for name, runs in figures.items()
    }
    for name, (rps, cpu_ms) in medians.items():
        print(
            f"{name:8s} sustained: {rps:,.0f} webhook requests/s, {cpu_ms:.3f} ms CPU per webhook "
            f"(median of {ROUNDS} turns, {CONCURRENCY} connections)"
        )
    ratio = medians["minimal"][1] / medians["gateway"][1]
    print(
        f"gateway vs minimal baseline, CPU per webhook: {ratio:.2f}x the baseline's efficiency "
        f"(requests/s {medians['gateway'][0] / medians['minimal'][0]:.2f}x; target >= 1.0x)"
    )


async def main() -> None:
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    run = uuid.uuid4().hex[:6]
    # A queue bound like ingest's, so the gateway's mandatory publishes are routed; it is
    # not consumed during the run (the broker only stores), then deleted.
    bus = Bus(AMQP_URL, prefix=prefix, service="bench", quorum_queues=False)
    await bus.connect()
    await bus.declare(Subscription(CONSUMER, ("whatsapp.message.received.v1",), _unused))
    await side_by_side(prefix, run)
    gateway = ServiceProcess(
        "gateway.main:create_app",
        {
            "AMQP_URL": AMQP_URL,
            "BUS_PREFIX": prefix,
            "WHATSAPP_APP_SECRET": SECRET,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
        },
    ).start()
    host = gateway.url.removeprefix("http://")
    hostname, port = host.split(":")
    pool: list[Connection] = []
    try:
        if shutil.which("wrk"):
            assert gateway.process is not None
            pid = gateway.process.pid
            body, headers = request(0, run)
            wrk(gateway.url, body, headers, connections=CONCURRENCY)  # warm-up
            cpu = cpu_seconds(pid)
            top = wrk(gateway.url, body, headers, connections=CONCURRENCY)
            per_request = (cpu_seconds(pid) - cpu) / (top["rps"] * SECONDS) * 1000
            print(
                f"gateway sustained (wrk, {CONCURRENCY} connections): {top['rps']:,.0f} webhook "
                f"requests/s with every event confirmed, {top['errors']:.0f} errors; "
                f"gateway CPU {per_request:.3f} ms per request"
            )
            paced = wrk(gateway.url, body, headers, connections=100, rate=RATE)
            print(
                f"gateway at {RATE:,} req/s offered (wrk, constant rate over 100 connections; "
                f"achieved {paced['rps']:,.0f}): p50 {paced['p50']:.1f} ms, "
                f"p99 {paced['p99']:.1f} ms, {paced['errors']:.0f} errors "
                "(targets: p50 <= 25 ms, p99 <= 100 ms)"
            )
            return
        pool = [await Connection.open(hostname, int(port)) for _ in range(CONCURRENCY)]
        raws = [raw_request(i, f"{run}w", host) for i in range(2000)]
        await sustained(pool, raws[:200])  # warm-up
        ok, elapsed, errors = await sustained(pool, raws)
        print(
            f"gateway sustained: {ok / elapsed:,.0f} webhook requests/s with every event "
            f"confirmed ({ok} in {elapsed:.1f}s, {errors} errors, {CONCURRENCY} connections)"
        )
        raws = [raw_request(i, run, host) for i in range(int(RATE * SECONDS))]
        latencies, errors, achieved = await fixed_rate(pool, raws)
        q = statistics.quantiles(latencies, n=100)
        print(
            f"gateway at {RATE:,} req/s for {SECONDS:.0f}s (achieved {achieved:,.0f}): "
            f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms, {errors} errors "
            "(targets: p50 <= 25 ms, p99 <= 100 ms)"
        )
    finally:
        for conn in pool:
            conn.close()
        gateway.stop()
        await bus.close()
        await remove_topology(AMQP_URL, prefix, {CONSUMER}, bus.retry_delays_ms)
        print(f"cores: {os.cpu_count()} (load generator, gateway and broker share them)")


async def _unused(_: Envelope) -> None:
    raise AssertionError("the sink queue is never consumed")


if __name__ == "__main__":
    asyncio.run(main())
