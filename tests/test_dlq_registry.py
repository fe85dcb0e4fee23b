"""`make dlq-list` / `make dlq-replay` see every consumer: each service with consumers declares
them (the `whatsapp_ai.consumers` entry point), read off the subscriptions its composition root
makes, and the dead-letter tool's list is exactly their union."""

import importlib
from importlib.metadata import entry_points
from pathlib import Path

from common.dlq import known_consumers

ROOT = Path(__file__).resolve().parents[1]
# Services that consume: those whose package (services/<name>/<name>) has a consumers module.
CONSUMING = sorted(
    service.name
    for service in (ROOT / "services").iterdir()
    if (service / service.name / "consumers.py").is_file()
)


def subscribed(service: str) -> list[str]:
    """The consumer names of the subscriptions the service's composition root builds."""
    root = importlib.import_module(f"{service}.main")
    names: list[str] = root.consumer_names()
    return names


def test_the_consuming_services_are_found() -> None:
    assert {"ingest", "knowledge", "responder"} <= set(CONSUMING)


def test_every_consuming_service_declares_its_composition_root_s_consumers() -> None:
    declared = {entry.name: entry for entry in entry_points(group="whatsapp_ai.consumers")}
    for service in CONSUMING:
        assert service in declared, f"{service}: no whatsapp_ai.consumers entry point"
        # The function of its composition root, not a list kept by hand beside it.
        assert declared[service].load() is importlib.import_module(f"{service}.main").consumer_names


def test_the_dlq_tool_knows_exactly_the_consumers_the_services_subscribe() -> None:
    per_service = {service: subscribed(service) for service in CONSUMING}
    for service, names in per_service.items():
        assert names, service
        assert len(names) == len(set(names)), f"{service} subscribes a queue twice: {names}"
        # Queue names start with their service: dead letters say whose they are.
        assert all(name.startswith(f"{service}.") for name in names), names
    union = sorted({name for names in per_service.values() for name in names})
    assert known_consumers() == union
