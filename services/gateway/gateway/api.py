"""Meta's two calls: the verification handshake and the signed notifications."""

import hmac
import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from common.bus import Bus
from common.errors import AppError
from gateway.service import (
    NotANotification,
    TooDeep,
    check_depth,
    signature_valid,
    split_notification,
)
from gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/webhook", tags=["webhook"])


@router.get("/whatsapp", response_class=PlainTextResponse)
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


@router.post("/whatsapp")
async def receive(request: Request) -> JSONResponse:
    """A signed notification: 200 once every event in it is confirmed by the broker."""
    settings: GatewaySettings = request.app.state.settings
    raw = await _read_capped(request, settings.webhook_max_bytes)
    if not signature_valid(raw, request.headers.get("x-hub-signature-256"), settings.app_secrets):
        raise AppError(401, "missing or invalid X-Hub-Signature-256")
    try:
        body = json.loads(raw)
        # Nesting needs an opening bracket per level: a body with few cannot be too deep.
        if raw.count(b"[") + raw.count(b"{") > settings.webhook_max_json_depth:
            check_depth(body, settings.webhook_max_json_depth)
        required, other = split_notification(body)
    except (ValueError, RecursionError) as exc:
        known = isinstance(exc, NotANotification | TooDeep)
        raise AppError(400, str(exc) if known else "body is not valid JSON") from exc
    bus: Bus = request.app.state.bus
    try:
        # Messages and statuses must reach a consumer (mandatory); the rest is informative.
        await bus.publish_many(required, mandatory=True)
        await bus.publish_many(other)
    except Exception as exc:
        log.error("webhook.publish_failed", error=repr(exc), events=len(required) + len(other))
        raise AppError(503, "event broker unavailable; retry later") from exc
    log.info("webhook.accepted", events=len(required), unhandled=len(other))
    return JSONResponse({"status": "ok", "events": len(required) + len(other)})


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AppError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AppError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
