"""common.openapi: each route's document lists the statuses its dependencies, body, inputs
and own code answer, each with the error body, and no status it cannot answer."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from common.app import ServiceRuntime, create_service_app
from common.auth import CurrentPrincipal, InternalCaller, Principal, require_role
from common.openapi import ERROR_BODY, VALIDATION_BODY, errors
from common.pagination import PageParams
from common.settings import CommonSettings
from wa_testing.plugin import TestKeyPair, service_settings

router = APIRouter(prefix="/api/things")
Manager = Annotated[Principal, require_role("owner")]


class ThingIn(BaseModel):
    name: str


@router.get("")
async def list_things(principal: CurrentPrincipal, page: PageParams) -> dict[str, str]:
    return {}


@router.put("/{thing_id}", responses=errors(404, {409: "the thing is locked"}))
async def put_thing(thing_id: uuid.UUID, body: ThingIn, principal: Manager) -> dict[str, str]:
    return {}


@router.get("/internal/echo", dependencies=[InternalCaller])
async def echo(word: Annotated[str | None, Query()] = None) -> dict[str, str]:
    return {}


def statuses(openapi: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(openapi["paths"][path][method]["responses"])


def an_app() -> FastAPI:
    keys = TestKeyPair()
    settings = service_settings(
        CommonSettings,
        database_url="postgresql+asyncpg://unused@localhost/unused",
        amqp_url="amqp://unused",
        bus_prefix="unused.",
        keys=keys,
    )
    runtime = ServiceRuntime(settings, uses_bus=False)
    return create_service_app(settings, runtime, title="t", description="t", routers=[router])


def test_dependencies_body_and_route_declare_their_statuses() -> None:
    openapi = an_app().openapi()
    listing = statuses(openapi, "/api/things", "get")
    # token: 401/503; cursor: 400; limit out of range: 422. No 403: any role may list.
    assert sorted(listing) == ["200", "400", "401", "422", "503"]
    put = statuses(openapi, "/api/things/{thing_id}", "put")
    assert sorted(put) == ["200", "400", "401", "403", "404", "409", "413", "422", "503"]
    assert put["409"]["description"] == "the thing is locked"
    for code, response in put.items():
        if code != "200":
            schema = response["content"]["application/json"]["schema"]
            assert schema == (VALIDATION_BODY if code == "422" else ERROR_BODY), code


def test_a_route_that_cannot_refuse_its_input_lists_no_422() -> None:
    # Only an optional, unconstrained string: nothing to refuse (FastAPI would list a 422).
    assert sorted(statuses(an_app().openapi(), "/api/things/internal/echo", "get")) == [
        "200",
        "401",
    ]


def test_a_422_body_may_be_fastapis_list_or_a_sentence() -> None:
    detail = VALIDATION_BODY["properties"]["detail"]["anyOf"]
    assert {"type": "string"} in detail and any(d.get("type") == "array" for d in detail)
