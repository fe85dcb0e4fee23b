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


def fuzz(openapi: dict[str, Any], base_url: str, headers: dict[str, str]) -> Outcome:
    """Every operation of the document, `EXAMPLES` requests per generation mode."""
    schema = schemathesis.openapi.from_dict(openapi)
    outcome = Outcome()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        for mode, examples in EXAMPLES.items():

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call(base_url=base_url, session=session, headers=headers)
                outcome.record(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no input to get wrong (e.g. /health)
            except Exception as exc:
                outcome.failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    return outcome


@pytest.mark.parametrize("name", ["gateway", "auth", "ingest", "knowledge", "responder"])
async def test_the_service_answers_as_its_openapi_says(name: str, start_service: Any) -> None:
    async with start_service(name) as service:
        headers = {**await service.owner(), INTERNAL_TOKEN_HEADER: "fuzz-internal-token"}
        openapi = service.openapi()
        # The requests are sent from a thread: the service answers on this event loop.
        outcome = await asyncio.to_thread(fuzz, openapi, service.url, headers)
    print(f"{name}: {outcome.requests} requests, statuses {sorted(outcome.statuses.items())}")
    assert outcome.requests > 0
    assert not outcome.failures, "\n\n".join(outcome.failures)
