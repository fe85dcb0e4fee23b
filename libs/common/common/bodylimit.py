"""Request bodies are capped before anything reads them (FastAPI reads a body before it runs
the route's dependencies, auth included): a declared Content-Length over the limit is a 413
at once, unread; a chunked body is counted as it streams in and cut with a 413."""

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes its limit. An HTTPException so that
    FastAPI's body parsing lets it through (it turns other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """Caps every HTTP request body at `default_bytes`, or at `routes[path]` for the few
    paths that take more (uploads, Meta's webhooks)."""

    def __init__(
        self, app: ASGIApp, *, default_bytes: int, routes: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.routes = dict(routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.default_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_413(send, limit)
            return

        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def send_413(send: Send, limit: int) -> None:
    """The 413 for a declared Content-Length over `limit`; the connection closes after it."""
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is left unread: the client must not reuse the socket.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
