"""The dashboard's unit tests (`node --test dashboard/lib/`, no build and no node_modules
needed), run with the rest of the suite."""

import shutil
import subprocess
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_dashboard_unit_tests_pass() -> None:
    run = subprocess.run(
        ["node", "--test", "lib/"], cwd=DASHBOARD, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout


def test_the_dashboards_api_types_are_generated_from_the_current_openapi() -> None:
    """lib/api/*.ts must be what openapi-typescript makes of docs/openapi/*.json (which
    tests/test_docs.py holds to the services): a service's contract that changed without
    `npm run gen:types` fails here, and `tsc` then shows the screens that disagree."""
    if not (DASHBOARD / "node_modules" / ".bin" / "openapi-typescript").exists():
        pytest.fail("dashboard/node_modules is missing: run `make install`", pytrace=False)
    run = subprocess.run(
        ["npm", "run", "--silent", "check:types"],
        cwd=DASHBOARD,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (
        "dashboard/lib/api is out of date: run `npm run gen:types` in dashboard/\n"
        + run.stdout
        + run.stderr
    )
