"""scripts/audit.py (run by `make lint`): findings fail, an unreachable advisory database is a
skip that says so, and no other failure passes silently."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wa_testing.plugin import free_port

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit.py"


@pytest.fixture
def audit() -> Any:
    spec = importlib.util.spec_from_file_location("audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answers(
    monkeypatch: pytest.MonkeyPatch, audit: Any, code: int, out: Any, err: str = ""
) -> None:
    stdout = out if isinstance(out, str) else json.dumps(out)
    done = subprocess.CompletedProcess([], code, stdout=stdout, stderr=err)
    monkeypatch.setattr(audit.subprocess, "run", lambda *a, **k: done)


def test_a_python_finding_fails(audit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    report = {
        "dependencies": [
            {
                "name": "jinja2",
                "version": "2.0",
                "vulns": [{"id": "PYSEC-1", "fix_versions": ["3.1"]}],
            },
            {"name": "httpx", "version": "0.28.1", "vulns": []},
        ]
    }
    answers(monkeypatch, audit, 1, report)
    passed, message = audit.pip_audit()
    assert not passed
    assert "jinja2 2.0: PYSEC-1 (fixed in 3.1)" in message


def test_a_clean_python_report_passes(audit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    answers(monkeypatch, audit, 0, {"dependencies": [{"name": "x", "version": "1", "vulns": []}]})
    assert audit.pip_audit() == (True, "pip-audit: 1 packages, no known vulnerability")


def test_an_npm_finding_fails(audit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    report = {
        "vulnerabilities": {"next": {"severity": "high"}},
        "metadata": {"vulnerabilities": {"low": 0, "high": 1, "critical": 0, "total": 1}},
    }
    answers(monkeypatch, audit, 1, report)
    passed, message = audit.npm_audit()
    assert not passed and "next" in message


def test_an_npm_registry_without_advisories_is_a_visible_skip(
    audit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = {"message": "405 Method Not Allowed - POST", "statusCode": 405, "error": {}}
    answers(monkeypatch, audit, 1, refused)
    passed, message = audit.npm_audit()
    assert passed and "skipped: advisory database unreachable" in message


def test_any_other_tool_failure_fails(audit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    answers(monkeypatch, audit, 2, "", "usage: pip-audit: error: unrecognized arguments")
    passed, message = audit.pip_audit()
    assert not passed and "pip-audit failed" in message


def test_offline_both_audits_are_skipped_with_a_message(tmp_path: Path) -> None:
    """The real tools, through a proxy where nothing listens: no database can be reached."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **{k: dead for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")},
        "npm_config_https_proxy": dead,
        "npm_config_proxy": dead,
        "XDG_CACHE_HOME": str(tmp_path),  # pip-audit's cache must not answer for PyPI
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["pip-audit", "npm audit"], lines
    assert all("skipped: advisory database unreachable" in line for line in lines), lines
