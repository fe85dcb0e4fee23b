"""Meta's two calls: the verification handshake and the signed notifications."""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.bodylimit import BodyTooLarge, send_413
from common.bus import Bus
from common.errors import AppError
from common.health import observe_request
from common.logging import CORRELATION_HEADER, bind_correlation_id
from common.openapi import errors
from gateway.service import NotANotification, TooDeep, parse_notification, signature_valid
from gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # the logger structlog renders through

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
    if _stdlib_log.isEnabledFor(logging.INFO):  # below the level, skip structlog's chain
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
    """Meta's POSTs, the gateway's only hot path, straight to `accept`: outside FastAPI's
    stack and the shared middleware, whose work for this one route it does inline (those
    seven layers were a tenth of a webhook's time in a profile). The correlation id, the
    body cap with its 413s, the request metrics and the 500 are the same as the shared
    middleware's; the FastAPI route above stays for the OpenAPI contract and behaves the
    same."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.limit = settings.webhook_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        content_length = signature = correlation_id = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                content_length = value
            elif key == b"x-hub-signature-256":
                signature = value.decode("latin-1")
            elif key == CORRELATION_HEADER_BYTES:
                correlation_id = value.decode("latin-1")[:128] or None
        structlog.contextvars.clear_contextvars()
        cid = bind_correlation_id(correlation_id).encode()
        route, status = WEBHOOK_PATH, 500
        try:
            if _declared_over(content_length, self.limit):
                # Refused unread, as BodyLimitMiddleware does (and counted as it counts).
                route, status = "unmatched", 413
                await send_413(_with_header(send, cid), self.limit)
                return
            try:
                raw = await _read_body(receive, self.limit)
                events = await accept(self.settings, scope["app"].state.bus, raw, signature)
                status = 200
                content = ACCEPTED_BODY % events
            except (AppError, BodyTooLarge) as exc:
                status = exc.status_code
                content = json.dumps({"detail": exc.detail}).encode()
            except Exception as exc:
                log.exception("http.unhandled_error", error=repr(exc))
                status, content = 500, b'{"detail": "internal error"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(content)),
                        (CORRELATION_HEADER_BYTES, cid),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": content})
        finally:
            observe_request("POST", route, status, time.perf_counter() - start)
            structlog.contextvars.clear_contextvars()


CORRELATION_HEADER_BYTES = CORRELATION_HEADER.encode()
# Byte for byte `json.dumps({"status": "ok", "events": n})`, without the encoder.
ACCEPTED_BODY = b'{"status": "ok", "events": %d}'


def _with_header(send: Send, cid: bytes) -> Send:
    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (CORRELATION_HEADER_BYTES, cid)]
        await send(message)

    return send_with_header


def _declared_over(content_length: bytes | None, limit: int) -> bool:
    return content_length is not None and content_length.isdigit() and int(content_length) > limit


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body (most arrive in one message), a 413 once it streams past `limit`."""
    message = await receive()
    parts: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise AppError(400, "client disconnected")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            if not parts:
                return chunk
            parts.append(chunk)
            return b"".join(parts)
        parts.append(chunk)
        message = await receive()
