"""Servers of a test's own, for fault tests: a RabbitMQ node and a Postgres cluster that the
test may stop, kill and restart without touching the machine's shared ones.

Each lives in its own temporary directory, on its own ports, under its own node or cluster
name. They need the Debian packages the machine already has (rabbitmq-server, postgresql);
when one is missing the test fails and says which (never a silent skip).
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wa_testing.plugin import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout}s")


class PrivateRabbitMQ:
    """A second `rabbitmq-server` with its own node name, ports and data directory."""

    def __init__(self) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            pytest.fail("fault tests need rabbitmq-server (Debian package rabbitmq-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="wa-rabbit-"))
        self.port = free_port()
        self.node = f"wafault{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            # Small test data: no need to keep disk free for a production backlog.
            "disk_free_limit.absolute = 50MB\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(self.dir),  # its Erlang cookie lives here, for rabbitmqctl too
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "env.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "PrivateRabbitMQ":
        log = (self.dir / "server.out").open("ab")
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the whole node
        )
        _wait(lambda: _port_open(self.port), timeout, f"RabbitMQ node {self.node} not up")
        return self

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout.decode()

    def stop_app(self) -> None:
        self.ctl("stop_app")
        _wait(lambda: not _port_open(self.port), 30, "AMQP port still open after stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        _wait(lambda: _port_open(self.port), 60, "AMQP port not open after start_app")

    def kill(self) -> None:
        """SIGKILL the whole node (a crash, or a host that vanished)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
        _wait(lambda: not _port_open(self.port), 30, "AMQP port still open after kill")

    def consumers(self) -> dict[str, int]:
        """What the broker itself counts: queue name -> consumers."""
        out = self.ctl("list_queues", "name", "consumers", "--no-table-headers", "-q")
        counts: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
        return counts

    def messages(self) -> dict[str, int]:
        out = self.ctl("list_queues", "name", "messages", "--no-table-headers", "-q")
        return {
            p[0]: int(p[1])
            for p in (line.split() for line in out.splitlines())
            if len(p) == 2 and p[1].isdigit()
        }

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.ctl("stop", timeout=30)
            with contextlib.suppress(Exception):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                self.kill()
            self.process = None
        # The node's Erlang processes (epmd is shared and stays).
        subprocess.run(["pkill", "-9", "-f", "--", self.node], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("fault tests need PostgreSQL's server binaries (Debian package postgresql)")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throwaway Postgres cluster (initdb) on its own port, trust auth, user postgres."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="wa-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/whatsapp_ai"
        # Postgres refuses to run as root: run it as the postgres user when we are root.
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        subprocess.run(
            [*self._as, *args], check=True, capture_output=True, timeout=timeout, cwd=self.dir
        )

    def init(self) -> "PrivatePostgres":
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nfsync = off\nmax_connections = 200\n"
            )
        return self

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` rolls back open transactions and closes connections; `immediate` is a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
