"""Meta's two calls: the verification handshake and the signed notifications."""

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.bodylimit import BodyTooLarge
from common.bus import Bus
from common.errors import AppError
from common.openapi import errors
from gateway.service import NotANotification, TooDeep, parse_notification, signature_valid
from gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/webhook", tags=["webhook"])


@router.get(
    "/whatsapp",
    response_class=PlainTextResponse,
    responses={
        403: {
            "description": "the verify token does not match",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def verify(
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's verification handshake: the raw challenge as text when the token matches."""
    settings: GatewaySettings = request.app.state.settings
    expected = settings.whatsapp_verify_token.get_secret_value().encode()
    if (
        mode == "subscribe"
        and token is not None
        and challenge is not None
        and hmac.compare_digest(token.encode(), expected)
    ):
        return PlainTextResponse(challenge)
    return PlainTextResponse("verification failed", status_code=403)


WEBHOOK_PATH = "/api/webhook/whatsapp"


# The body is read raw (its signature covers the exact bytes), so it is declared here.
NOTIFICATION_REQUEST = {
    "parameters": [
        {
            "name": "X-Hub-Signature-256",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "sha256=<hex HMAC of the body with the app secret>",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}
ACCEPTED = {
    "type": "object",
    "required": ["status", "events"],
    "properties": {"status": {"type": "string"}, "events": {"type": "integer"}},
}


@router.post(
    "/whatsapp",
    openapi_extra=NOTIFICATION_REQUEST,
    responses={
        200: {
            "description": "every event confirmed by the broker",
            "content": {"application/json": {"schema": ACCEPTED}},
        },
        **errors(
            {400: "not a WhatsApp notification (or not JSON)"},
            {401: "missing or invalid X-Hub-Signature-256"},
            413,
            {503: "event broker unavailable; Meta retries"},
        ),
    },
)
async def receive(request: Request) -> JSONResponse:
    """A signed notification: 200 once every event in it is confirmed by the broker."""
    settings: GatewaySettings = request.app.state.settings
    raw = await _read_capped(
        request.stream(), request.headers.get("content-length"), settings.webhook_max_bytes
    )
    events = await accept(
        settings, request.app.state.bus, raw, request.headers.get("x-hub-signature-256")
    )
    return JSONResponse({"status": "ok", "events": events})


async def accept(settings: GatewaySettings, bus: Bus, raw: bytes, signature: str | None) -> int:
    """Check, split and publish one notification; returns how many events were confirmed."""
    if not signature_valid(raw, signature, settings.app_secrets):
        raise AppError(401, "missing or invalid X-Hub-Signature-256")
    try:
        required, other = parse_notification(raw, settings.webhook_max_json_depth)
    except (ValueError, RecursionError) as exc:
        known = isinstance(exc, NotANotification | TooDeep)
        raise AppError(400, str(exc) if known else "body is not valid JSON") from exc
    try:
        # Messages and statuses must reach a consumer (mandatory); the rest is informative.
        if other:
            await asyncio.gather(
                bus.publish_many(required, mandatory=True), bus.publish_many(other)
            )
        else:
            await bus.publish_many(required, mandatory=True)
    except Exception as exc:
        log.error("webhook.publish_failed", error=repr(exc), events=len(required) + len(other))
        raise AppError(503, "event broker unavailable; retry later") from exc
    log.info("webhook.accepted", events=len(required), unhandled=len(other))
    return len(required) + len(other)


async def _read_capped(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AppError(413, f"body larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise AppError(413, f"body larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


class WebhookFastPath:
    """Meta's POSTs, the gateway's only hot path, straight to `accept`: past FastAPI's router,
    request/response objects and exception middleware (about a third of a request's CPU).
    Sits inside the shared middleware, so correlation ids and metrics still apply; the
    FastAPI route above stays for the OpenAPI contract and behaves the same."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = _Route(WEBHOOK_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the metrics label, as the router would set it
        state = scope["app"].state
        headers = _Headers(scope["headers"])
        try:
            raw = await _read_capped(
                _body(receive), headers.get("content-length"), state.settings.webhook_max_bytes
            )
            events = await accept(
                state.settings, state.bus, raw, headers.get("x-hub-signature-256")
            )
            status, payload = 200, {"status": "ok", "events": events}
        except (AppError, BodyTooLarge) as exc:
            status, payload = exc.status_code, {"detail": exc.detail}
        except Exception as exc:
            log.exception("http.unhandled_error", error=repr(exc))
            status, payload = 500, {"detail": "internal error"}
        content = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


@dataclass(frozen=True)
class _Route:
    path: str


class _Headers:
    """Case-insensitive lookup in raw ASGI headers (names arrive lower-cased)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.encode()
        for k, v in self.raw:
            if k == key:
                return v.decode("latin-1")
        return default


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise AppError(400, "client disconnected")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
