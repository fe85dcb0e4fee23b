"""`common` is what every production image installs: none of its modules may pull in test code
(pytest, the `wa_testing` package of libs/testing), nor may its distribution ask for it."""

import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import common

COMMON_DIR = Path(common.__file__).parent
PYPROJECT = COMMON_DIR.parent / "pyproject.toml"
TEST_PACKAGES = ("pytest", "_pytest", "pytest_asyncio", "wa_testing", "hypothesis", "yaml")

# A fresh interpreter (the test run itself has pytest loaded) imports every common module and
# reports which test packages ended up in sys.modules.
PROBE = """
import importlib, json, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
roots = {m.split(".")[0] for m in sys.modules}
print(json.dumps(sorted(roots & set(json.loads(sys.argv[1])))))
"""


def common_modules() -> list[str]:
    return ["common"] + [
        f"common.{m.name}" for m in pkgutil.iter_modules([str(COMMON_DIR)]) if m.name != "__main__"
    ]


def test_every_common_module_is_listed() -> None:
    # The probe below is only as good as this list: it must see the modules that exist.
    modules = common_modules()
    assert {"common.bus", "common.events", "common.app", "common.dlq"} <= set(modules)
    assert not {"common.testing", "common.fakes"} & set(modules)


def test_importing_common_loads_no_test_package() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(TEST_PACKAGES), *common_modules()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_probe_sees_a_test_import() -> None:
    # The same probe on a module known to import pytest: proof the check can fail.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(TEST_PACKAGES), "wa_testing.plugin"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert "pytest" in found and "wa_testing" in found


def test_the_common_distribution_requires_no_test_tool() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra
    names = {req.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip() for req in wanted}
    assert not names & {"pytest", "pytest-asyncio", "pyyaml", "hypothesis", "whatsapp-ai-testing"}
