"""The reusable isolation check catches a leaky route and passes a scoped one."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from common.auth import CurrentPrincipal, JWKSVerifier
from common.errors import AppError, install_error_handlers
from wa_testing.plugin import TestKeyPair, assert_tenant_isolation


def notes_app(keys: TestKeyPair, *, leaky: bool) -> FastAPI:
    """A toy resource; `leaky` forgets the tenant filter on reads and writes."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.verifier = JWKSVerifier(jwks=keys.jwks(), issuer=keys.issuer, audience=keys.audience)
    notes: dict[str, dict[str, Any]] = {}

    def find(note_id: str, tenant: uuid.UUID) -> dict[str, Any]:
        note = notes.get(note_id)
        if note is None or (not leaky and note["tenant"] != str(tenant)):
            raise AppError(404, "note not found")
        return note

    @app.post("/notes", status_code=201)
    async def create(body: dict[str, str], p: CurrentPrincipal) -> dict[str, Any]:
        note = {"id": uuid.uuid4().hex, "tenant": str(p.tenant_id), "text": body["text"]}
        notes[note["id"]] = note
        return note

    @app.get("/notes")
    async def listing(p: CurrentPrincipal) -> dict[str, Any]:
        items = [n for n in notes.values() if leaky or n["tenant"] == str(p.tenant_id)]
        return {"items": items, "next_cursor": None}

    @app.get("/notes/{note_id}")
    async def get(note_id: str, p: CurrentPrincipal) -> dict[str, Any]:
        return find(note_id, p.tenant_id)

    @app.patch("/notes/{note_id}")
    async def patch(note_id: str, body: dict[str, str], p: CurrentPrincipal) -> dict[str, Any]:
        note = find(note_id, p.tenant_id)
        note.update(body)
        return note

    @app.delete("/notes/{note_id}", status_code=204)
    async def delete(note_id: str, p: CurrentPrincipal) -> None:
        notes.pop(find(note_id, p.tenant_id)["id"])

    return app


async def check(app: FastAPI, keys: TestKeyPair) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def create(headers: dict[str, str]) -> str:
            r = await client.post("/notes", json={"text": "A's secret"}, headers=headers)
            return str(r.json()["id"])

        await assert_tenant_isolation(
            client,
            keys,
            create=create,
            item_path="/notes/{id}",
            list_path="/notes",
            updates=[("PATCH", {"text": "overwritten by B"})],
        )


async def test_a_scoped_resource_passes(test_keys: TestKeyPair) -> None:
    await check(notes_app(test_keys, leaky=False), test_keys)


async def test_a_leaky_resource_is_caught(test_keys: TestKeyPair) -> None:
    with pytest.raises(AssertionError, match="shows tenant A's"):
        await check(notes_app(test_keys, leaky=True), test_keys)
