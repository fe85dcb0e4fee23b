"""Build and start the Next.js dashboard (dashboard/), for `make run` and the browser tests.

`npm ci` runs when node_modules is missing or older than package-lock.json; `next build` runs
when a source file changed since the last build (a hash kept in .next/). Both are skipped
otherwise, so a second `make run` starts the dashboard at once.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboard"
# What a build depends on; e2e/ and the README do not change the build.
SOURCES = (
    "app",
    "components",
    "lib",
    "public",
    "proxy.ts",
    "next.config.ts",
    "package-lock.json",
    "tsconfig.json",
    "postcss.config.mjs",
)
DEPS_STAMP = DASHBOARD / "node_modules" / ".installed-lock-sha256"
BUILD_STAMP = DASHBOARD / ".next" / ".sources-sha256"


def _env() -> dict[str, str]:
    return {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(DASHBOARD)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _sources() -> list[Path]:
    found: list[Path] = []
    for name in SOURCES:
        path = DASHBOARD / name
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            found.append(path)
    return found


def ensure_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("The dashboard needs Node.js ≥ 20.9 and npm: install them first.")


def ensure_deps() -> None:
    """`npm ci` when node_modules is missing or was installed from another lock file."""
    ensure_node()
    lock = _sha256([DASHBOARD / "package-lock.json"])
    if DEPS_STAMP.exists() and DEPS_STAMP.read_text() == lock:
        return
    print("dashboard: npm ci (node_modules missing or out of date)", flush=True)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=DASHBOARD,
        env=_env(),
        check=True,
    )
    DEPS_STAMP.write_text(lock)


def ensure_built() -> None:
    """Dependencies, then `next build` when a source changed since the last build."""
    ensure_deps()
    sources = _sha256(_sources())
    if BUILD_STAMP.exists() and BUILD_STAMP.read_text() == sources:
        return
    print("dashboard: next build (sources changed)", flush=True)
    subprocess.run(
        ["node", "node_modules/next/dist/bin/next", "build"],
        cwd=DASHBOARD,
        env=_env(),
        check=True,
    )
    BUILD_STAMP.write_text(sources)


def start(
    port: int, services: Mapping[str, str], host: str = "127.0.0.1", **popen: object
) -> "subprocess.Popen[bytes]":
    """`next start` with the services' URLs (AUTH_URL, INGEST_URL, KNOWLEDGE_URL, RESPONDER_URL)."""
    env = {**_env(), **services}
    cmd = ["node", "node_modules/next/dist/bin/next", "start", "-H", host, "-p", str(port)]
    return subprocess.Popen(cmd, cwd=DASHBOARD, env=env, **popen)  # type: ignore[call-overload]


if __name__ == "__main__":
    # `python scripts/dashboard.py deps` (npm ci when needed) or `build` (and next build).
    what = sys.argv[1] if len(sys.argv) > 1 else "build"
    if what not in ("deps", "build"):
        raise SystemExit("usage: scripts/dashboard.py [deps|build]")
    ensure_deps() if what == "deps" else ensure_built()
