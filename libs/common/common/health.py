"""`/health` (each dependency's state; 503 when one is down) and `/metrics` (Prometheus)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A check returns the states it knows ({"database": "ok"}, {"broker": "down", ...}).
HealthCheck = Callable[[], Awaitable[dict[str, str]]]

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("http_request_seconds", "HTTP request duration", ["method", "route"])

router = APIRouter(tags=["operations"])

HEALTH_BODY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _health_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": HEALTH_BODY}}}


@router.get(
    "/health",
    summary="Each dependency's state; 503 when one is down",
    responses={
        200: _health_answer("every dependency is ok"),
        503: _health_answer("a dependency is down"),
    },
)
async def health(request: Request) -> JSONResponse:
    checks: list[HealthCheck] = request.app.state.health_checks
    results = await asyncio.gather(*(_run(check) for check in checks))
    states: dict[str, str] = {}
    for result in results:
        states.update(result)
    healthy = all(state == "ok" for state in states.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": states},
        status_code=200 if healthy else 503,
    )


async def _run(check: HealthCheck) -> dict[str, str]:
    try:
        return await asyncio.wait_for(check(), timeout=2.0)
    except Exception:
        name = getattr(check, "__name__", "check").removeprefix("check_")
        return {name: "down"}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# Each (method, route, status) child once: `labels()` takes a lock and builds its key per call.
_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one HTTP request and its duration (what MetricsMiddleware records per request)."""
    key = (method, route, str(status))
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            HTTP_REQUESTS.labels(*key),
            HTTP_SECONDS.labels(method, route),
        )
    children[0].inc()
    children[1].observe(seconds)


class MetricsMiddleware:
    """Counts requests and their duration by route template (never by raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            observe_request(
                scope.get("method", "GET"), template, status, time.perf_counter() - start
            )
