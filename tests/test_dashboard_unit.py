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
