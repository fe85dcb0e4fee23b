"""`make run`: every service in the foreground, logs interleaved, all stopped on Ctrl-C.

Settings come from the environment (docs/operations.md); defaults run against local Postgres
and RabbitMQ. INTERNAL_TOKEN (services calling each other) and ADMIN_TOKEN (auth's key
rotation only), when unset, are generated once and kept in .run/.
The dashboard (dashboard/, Next.js) is built when needed and served on DASHBOARD_PORT (3000);
`--no-dashboard` leaves it out.
"""

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import dashboard

ROOT = Path(__file__).resolve().parent.parent
# Start order: ingest before the gateway, so the queue the gateway publishes to exists.
SERVICES = [
    ("auth", 8001),
    ("ingest", 8002),
    ("knowledge", 8003),
    ("responder", 8004),
    ("gateway", 8000),
]
COLORS = ["\033[35m", "\033[36m", "\033[33m", "\033[32m", "\033[34m", "\033[92m"]
RESET = "\033[0m"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"


def generated_secret(name: str) -> str:
    path = ROOT / ".run" / name
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parsed.hostname or "localhost", parsed.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def migrate_all(database_url: str) -> None:
    from common.db import ensure_database
    from common.migrations import upgrade

    if asyncio.run(ensure_database(database_url)):
        print(f"created database {urlparse(database_url).path.lstrip('/')}")
    for name, _ in SERVICES:
        service_dir = ROOT / "services" / name
        if (service_dir / "alembic.ini").exists():
            upgrade(service_dir, database_url)
            print(f"migrated schema {name}")


def pump(name: str, color: str, stream: "subprocess.IO[bytes]", tty: bool) -> None:
    label = f"{color}{name:>9} |{RESET} " if tty else f"{name:>9} | "
    for raw in iter(stream.readline, b""):
        sys.stdout.write(label + raw.decode(errors="replace"))
        sys.stdout.flush()


def healthy(port: int, path: str = "/health") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--migrate-only", action="store_true")
    parser.add_argument("--no-dashboard", action="store_true", help="services only")
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("AMQP_URL", DEFAULT_AMQP_URL)
    env.setdefault("INTERNAL_TOKEN", generated_secret("internal-token"))
    env.setdefault("ADMIN_TOKEN", generated_secret("admin-token"))
    env["PYTHONUNBUFFERED"] = "1"
    for what, url, port in (
        ("PostgreSQL", env["DATABASE_URL"], 5432),
        ("RabbitMQ", env["AMQP_URL"], 5672),
    ):
        if not reachable(url, port):
            print(f"{what} is not reachable at {url}: start it, or point the variable at one.")
            return 1
    os.environ.update(env)
    migrate_all(env["DATABASE_URL"])
    if args.migrate_only:
        return 0
    with_dashboard = not args.no_dashboard
    if with_dashboard:
        try:
            dashboard.ensure_built()
        except (SystemExit, subprocess.CalledProcessError) as exc:
            print(f"dashboard not started: {exc}")
            with_dashboard = False

    tty = sys.stdout.isatty()
    host = env.get("HOST", "127.0.0.1")
    processes: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    for (name, port), color in zip(SERVICES, COLORS[: len(SERVICES)], strict=True):
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"{name}.main:create_app",
            "--host",
            host,
            "--port",
            str(port),
            # Longer than any client keeps an idle connection (docs/operations.md, Deploying).
            "--timeout-keep-alive",
            "130",
        ]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        threading.Thread(target=pump, args=(name, color, proc.stdout, tty), daemon=True).start()
        processes.append((name, port, proc))
        if name == "ingest":  # the gateway waits for ingest's queue (see SERVICES)
            deadline = time.monotonic() + 60
            while not healthy(port) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)

    dashboard_port = int(env.get("DASHBOARD_PORT", "3000"))
    if with_dashboard:
        urls = {
            f"{name.upper()}_URL": f"http://127.0.0.1:{port}"
            for name, port in SERVICES
            if name != "gateway"
        }
        proc = dashboard.start(
            dashboard_port,
            urls,
            host=host,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(
            target=pump, args=("dashboard", COLORS[-1], proc.stdout, tty), daemon=True
        ).start()
        processes.append(("dashboard", dashboard_port, proc))

    def is_up(name: str, port: int) -> bool:
        return healthy(port, "/login" if name == "dashboard" else "/health")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    announced = False
    exit_code = 0
    while not stopping:
        for name, _, proc in processes:
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the others.")
                stopping, exit_code = True, 1
        if not announced and all(is_up(name, port) for name, port, _ in processes):
            announced = True
            print("\nAll services are healthy:")
            for name, port, _ in processes:
                if name != "dashboard":
                    print(f"  {name:<9} http://{host}:{port}  (docs: http://{host}:{port}/docs)")
            print(f"  Meta webhook: http://{host}:8000/api/webhook/whatsapp")
            if with_dashboard:
                print(f"\n  Dashboard: http://{host}:{dashboard_port}  (sign up there)")
            print("Ctrl-C stops them all.\n")
        time.sleep(0.5)

    for _, _, proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _, _, proc in processes:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
