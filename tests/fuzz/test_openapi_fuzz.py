"""Property-based fuzzing of every service against its own OpenAPI document (schemathesis).

Each operation gets requests generated from its declared parameters and bodies, valid and
invalid, sent over real HTTP with a real bearer token (and the service token), to a service
running on the run's Postgres and RabbitMQ. Every answer must be no 5xx, a status the
operation declares, and a body that matches the schema declared for that status."""

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from common.auth import INTERNAL_TOKEN_HEADER

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Bounded and deterministic: the same requests on every run, about a minute for all services.
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
# Operations not fuzzed, each with its reason.
NOT_FUZZED = {
    # An open event stream answers 200 and never ends: there is no response body to check.
    # Its token handling is tested in services/ingest/tests (401s, revocation, tenants).
    ("GET", "/api/events/stream"): "a server-sent event stream never completes",
}


@dataclass
class Outcome:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


def fuzz(
    openapi: dict[str, Any], base_url: str, headers: dict[str, str], known: dict[str, str]
) -> Outcome:
    """Every operation of the document, `EXAMPLES` requests per generation mode; an operation
    with ids gets as many again on the caller's own objects (`known`: id by parameter)."""
    schema = schemathesis.openapi.from_dict(openapi)
    outcome = Outcome()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        names = [p.name for p in operation.path_parameters]
        runs = [(mode, examples, None) for mode, examples in EXAMPLES.items()]
        if names and all(n in known for n in names):
            own = {n: known[n] for n in names}
            runs.append((GenerationMode.POSITIVE, EXAMPLES[GenerationMode.POSITIVE], own))
        for mode, examples, path_parameters in runs:

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
                suppress_health_check=list(HealthCheck),
            )
            @given(
                case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            )
            def run(case: Any) -> None:
                response = case.call(base_url=base_url, session=session, headers=headers)
                outcome.record(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no input to get wrong (e.g. /health)
            except Exception as exc:
                on = " on own objects" if path_parameters else ""
                outcome.failures.append(f"{operation.label} ({mode.value}{on}): {exc}"[:3000])
    return outcome


@pytest.mark.parametrize("name", ["gateway", "auth", "ingest", "knowledge", "responder"])
async def test_the_service_answers_as_its_openapi_says(
    name: str, start_service: Any, creators: dict[tuple[str, str], Any]
) -> None:
    async with start_service(name) as service:
        owner = await service.owner()
        headers = {**owner, INTERNAL_TOKEN_HEADER: "fuzz-internal-token"}
        # The business has one object of each kind, so ids also hit real rows.
        known = {
            p: await create(service, owner) for (s, p), create in creators.items() if s == name
        }
        openapi = service.openapi()
        # The requests are sent from a thread: the service answers on this event loop.
        outcome = await asyncio.to_thread(fuzz, openapi, service.url, headers, known)
    print(f"{name}: {outcome.requests} requests, statuses {sorted(outcome.statuses.items())}")
    assert outcome.requests > 0
    assert not outcome.failures, "\n\n".join(outcome.failures)
