"""structlog setup and the correlation id that follows one customer message everywhere."""

import logging
import re
import sys
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORRELATION_HEADER = "x-correlation-id"


def configure_logging(*, service: str, environment: str, level: str = "INFO") -> None:
    """JSON lines in production, readable console lines elsewhere; stdlib logs go the same way."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        _add_service(service),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if environment == "production"
        # Plain tracebacks: rich's (the default when installed) render every frame's locals,
        # hundreds of ms of CPU each, enough to stall a service that logs a burst of failures.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    if environment == "production":
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        # Below the level, drop the event before any processor runs (hot paths log per item).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiormq/aio_pika are chatty at INFO about reconnects we already log ourselves.
    for noisy in ("aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuerySecrets) for f in access.filters):
        access.addFilter(RedactQuerySecrets())


# Query parameters that carry a secret: the SSE `?access_token=` (docs/api.md: EventSource cannot
# set headers), Meta's `hub.verify_token`, and anything named like a token, key or password.
_SECRET_PARAM = re.compile(
    r"(?P<name>(?:^|[?&])[^=&#]*(?:token|ticket|secret|key|password|signature)[^=&#]*=)"
    r"[^&#]*",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact_query_secrets(path: str) -> str:
    """The path with the value of every secret-bearing query parameter replaced."""
    if "?" not in path:
        return path
    base, _, query = path.partition("?")
    return f"{base}?{_SECRET_PARAM.sub(lambda m: m['name'] + REDACTED, query)}"


class RedactQuerySecrets(logging.Filter):
    """uvicorn's access log line carries the full path with its query string; a token in it
    would land in `make run`'s output and any log store. Its args are
    (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query_secrets(args[2]), *args[3:])
        return True


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(value) if value else None


def bind_correlation_id(correlation_id: str | None) -> str:
    """Bind (or create) the correlation id for the current task; returns it."""
    cid = correlation_id or new_correlation_id()
    structlog.contextvars.bind_contextvars(correlation_id=cid)
    return cid


class CorrelationIdMiddleware:
    """Binds a correlation id per request (from `X-Correlation-ID` or new) and echoes it back.

    Pure ASGI so the context variables reach the endpoint and its dependencies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope.get("headers", []):
            if key == CORRELATION_HEADER.encode():
                incoming = value.decode("latin-1")[:128] or None
                break
        structlog.contextvars.clear_contextvars()
        cid = bind_correlation_id(incoming)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), cid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            structlog.contextvars.clear_contextvars()
