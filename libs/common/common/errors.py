"""Business errors carry their HTTP status; nothing expected ever becomes a 500."""

import json

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

log = structlog.get_logger(__name__)


class AppError(Exception):
    """An expected failure: answered as `{"detail": ...}` with its status."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", error=repr(exc))
        return JSONResponse({"detail": "internal error"}, 500)

    async def invalid_request(_: Request, exc: Exception) -> Response:
        # FastAPI's own 422 (its list form), but ASCII-escaped: the errors echo the input,
        # and a lone surrogate in it cannot be encoded as UTF-8 (that would be a 500).
        assert isinstance(exc, RequestValidationError)
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
        return Response(body, 422, media_type="application/json")

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
