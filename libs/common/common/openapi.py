"""Each route's error answers in its OpenAPI document, with their `{"detail": ...}` body.

Statuses that come from a dependency (a bearer token: 401/503; a role: 403; a page cursor:
400; a service token: 401) are declared once on that dependency with `@raises`. A request
body adds 400 (unreadable) and 413 (the body limit); input that can fail validation, 422.
A route states the rest itself: `responses=errors(404, 409)`. `document_errors(app)` puts
them together for every route, so a client (or a fuzzer) can trust that no other status
comes back."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts

F = TypeVar("F", bound=Callable[..., Any])

ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "what is wrong"}},
}
# FastAPI's validation errors keep their list form; a check of ours says it in a sentence.
VALIDATION_BODY: dict[str, Any] = {
    "type": "object",
    "title": "InvalidInput",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
            ]
        }
    },
}

DESCRIPTIONS = {
    400: "a malformed request: a body that cannot be read, or a cursor not of ours",
    401: "a missing, invalid or expired credential",
    403: "the caller's role may not do this",
    404: "not found (or another business's)",
    409: "conflicts with the current state",
    413: "the request body is larger than the limit",
    415: "an unsupported media type",
    422: "invalid input",
    429: "rate limited: retry after the Retry-After header's seconds",
    503: "temporarily unavailable: retry later",
}


def error_response(code: int, description: str | None = None) -> dict[str, Any]:
    schema = VALIDATION_BODY if code == 422 else ERROR_BODY
    return {
        "description": description or DESCRIPTIONS.get(code, "error"),
        "content": {"application/json": {"schema": schema}},
    }


def errors(*codes: int | Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: `errors(404, {409: "only a sandbox channel"})`."""
    out: dict[int | str, dict[str, Any]] = {}
    for item in codes:
        described = item if isinstance(item, Mapping) else {item: None}
        for code, description in described.items():
            out[code] = error_response(code, description)
    return out


ERROR_STATUSES_ATTR = "__error_statuses__"


def raises(*codes: int) -> Callable[[F], F]:
    """Marks a dependency with the error statuses it answers (read by `document_errors`)."""

    def mark(fn: F) -> F:
        setattr(fn, ERROR_STATUSES_ATTR, (*getattr(fn, ERROR_STATUSES_ATTR, ()), *codes))
        return fn

    return mark


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


def _can_fail_validation(route: Any) -> bool:
    """True unless every parameter is an optional, unconstrained string (nothing to refuse)."""
    if route.body_field is not None:
        return True
    for param in get_flat_params(route.dependant):
        info = param.field_info
        annotation = info.annotation
        plain_str = annotation is str or set(get_args(annotation)) <= {str, type(None)}
        if info.is_required() or info.metadata or not plain_str:
            return True
    return False


def route_error_statuses(route: Any) -> set[int]:
    """What a route's dependencies, body and parameters can answer besides success."""
    statuses: set[int] = set()
    for call in _dependency_calls(route.dependant):
        statuses.update(getattr(call, ERROR_STATUSES_ATTR, ()))
    if route.body_field is not None:
        statuses |= {400, 413}  # a body that cannot be read (not UTF-8 JSON); too large
    if _can_fail_validation(route):
        statuses.add(422)
    return statuses


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Each route as it is served: the router's prefix and dependencies included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _complete(app: FastAPI, schema: dict[str, Any]) -> None:
    for route in _api_routes(app):
        statuses = route_error_statuses(route)
        own = {str(code) for code in route.responses}
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            responses = operation.setdefault("responses", {})
            for code in sorted(statuses):
                if str(code) not in own:
                    responses[str(code)] = error_response(code)
            if 422 not in statuses and "422" not in own:
                responses.pop("422", None)  # FastAPI lists it wherever there are parameters
            # A bare description (no body) gets the error body every error has.
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and not response.get("content"):
                    response["content"] = error_response(int(code))["content"]


def document_errors(app: FastAPI) -> None:
    """Complete the app's OpenAPI document with every route's error statuses (what a route
    declares itself is kept as written)."""
    generate = app.openapi
    completed: list[int] = []  # the id of the document last completed

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's cached document, built anew when routes change
        if completed != [id(schema)]:
            _complete(app, schema)
            completed[:] = [id(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
