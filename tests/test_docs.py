"""The repository's own docs stay true: docs/api.md names every public route of every
service and no route that does not exist; each service's OpenAPI document is kept as a
snapshot (`docs/openapi/<service>.json`), so a change to the public contract shows in review
as a diff (`UPDATE_GOLDEN=1` rewrites them: review and commit); comments and docs point into
docs/, not at design files that are not in the repository.

Routes come from each service's OpenAPI, built in-process (no database or broker needed).
"""

import importlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wa_testing.plugin import TestKeyPair, service_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SERVICES = {
    "gateway": ("gateway.main", "gateway.settings", "GatewaySettings"),
    "auth": ("auth.main", "auth.settings", "AuthSettings"),
    "ingest": ("ingest.main", "ingest.settings", "IngestSettings"),
    "knowledge": ("knowledge.main", "knowledge.settings", "KnowledgeSettings"),
    "responder": ("responder.main", "responder.settings", "ResponderSettings"),
}
METHODS = "GET|POST|PUT|PATCH|DELETE"
# `GET /api/x`, `GET/PUT /api/x/{id}`, `GET /api/x?q=`: methods, then the path up to a `?`.
OPERATION = re.compile(rf"`((?:{METHODS})(?:/(?:{METHODS}))*) (/[^\s`?]*)")
# Not part of the public API: probes and the service-to-service routes.
PRIVATE = re.compile(r"^/(health|internal/)")


def openapi_of(service: str) -> dict[str, Any]:
    """The service's OpenAPI document, from its app built in-process (nothing started)."""
    main_module, settings_module, settings_class = SERVICES[service]
    settings_cls = getattr(importlib.import_module(settings_module), settings_class)
    settings = service_settings(
        settings_cls,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/unused",
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        bus_prefix="docs",
        keys=TestKeyPair(),
    )
    spec: dict[str, Any] = importlib.import_module(main_module).create_app(settings).openapi()
    return spec


def public_operations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for service in SERVICES:
        spec = openapi_of(service)
        for path, item in spec["paths"].items():
            if PRIVATE.match(path):
                continue
            found.update((method.upper(), path) for method in item if method != "parameters")
    return found


def documented_operations() -> set[tuple[str, str]]:
    text = (DOCS / "api.md").read_text()
    return {
        (method, path) for methods, path in OPERATION.findall(text) for method in methods.split("/")
    }


@pytest.fixture(scope="module")
def operations() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    return public_operations(), documented_operations()


def test_every_public_route_is_documented(operations: tuple[set, set]) -> None:
    served, documented = operations
    missing = sorted(served - documented)
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_docs_name_no_route_that_does_not_exist(operations: tuple[set, set]) -> None:
    served, documented = operations
    unknown = sorted(documented - served)
    assert not unknown, f"docs/api.md names routes no service has: {unknown}"


def test_code_points_into_docs_not_at_design_files_outside_the_repository() -> None:
    """The design notes the project started from live outside the repository; a comment
    citing them sends a reader nowhere."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    cited = re.compile(r"\b(API|ARCHITECTURE|WHATSAPP|STYLE|DEPENDENCIES)\.md\b")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".ts", ".tsx", ".mjs", ".md", ".toml", ".yml", ".txt"}:
            continue
        if name.startswith("docs/screenshots") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if cited.search(line):
                offenders.append(f"{name}:{number}")
    assert not offenders, f"cite docs/ instead: {offenders}"


def test_every_event_type_is_in_the_architecture_page() -> None:
    from common.events import EVENT_TYPES

    text = (DOCS / "architecture.md").read_text()
    missing = sorted(event for event in EVENT_TYPES if f"`{event}`" not in text)
    assert not missing, f"events missing from docs/architecture.md's table: {missing}"


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_openapi_document_matches_its_snapshot(service: str) -> None:
    current = json.dumps(openapi_of(service), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = DOCS / "openapi" / f"{service}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(current)
    assert path.exists(), f"no snapshot of {service}'s OpenAPI: run with UPDATE_GOLDEN=1"
    assert path.read_text() == current, (
        f"{service}'s OpenAPI changed: review it, then accept it with UPDATE_GOLDEN=1 "
        f"(docs/openapi/{service}.json)"
    )
