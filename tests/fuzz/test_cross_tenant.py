"""Tenant isolation, generated from each service's OpenAPI: for every operation with an id in
its path, business B gets a 404 for business A's object (never 200, 403 or 500: nothing
that tells B it exists), and A's object is unchanged afterwards.

The operations are read from the document, so a new route with an id is covered the day it
is added; one whose id has no creator in conftest.CREATORS (or whose body is not known
below) fails here until it gets one."""

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.fuzz

# A valid body for each operation that takes one: validation must pass for the lookup (and
# its 404) to be reached.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/channels/{channel_id}/simulate"): {"from": "15550001111", "text": "hi"},
    ("PATCH", "/api/channels/{channel_id}"): {"auto_reengage": False},
    ("PATCH", "/api/conversations/{conversation_id}"): {"ai_enabled": False},
    ("POST", "/api/conversations/{conversation_id}/messages"): {"text": "hello from B"},
    ("POST", "/api/conversations/{conversation_id}/notes"): {"text": "a note from B"},
    ("PUT", "/api/conversations/{conversation_id}/labels"): {"label_ids": []},
    ("PUT", "/api/canned-replies/{reply_id}"): {"shortcut": "b", "text": "from B"},
    ("PATCH", "/api/contacts/{contact_id}"): {"notes": "a note from B"},
    ("PUT", "/api/prompts/{template_id}"): {"name": "renamed by B"},
}


def operations_with_ids(openapi: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(method, path template, its path parameters) for every operation with an id."""
    found = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if params:
                found.append((method.upper(), path, params))
    return found


def needs_body(operation: dict[str, Any]) -> bool:
    return bool(operation.get("requestBody", {}).get("required"))


@pytest.mark.parametrize("name", ["gateway", "auth", "ingest", "knowledge", "responder"])
async def test_another_business_gets_404_for_every_id(
    name: str, start_service: Any, creators: dict[tuple[str, str], Any]
) -> None:
    async with start_service(name) as service:
        openapi = service.openapi()
        operations = operations_with_ids(openapi)
        missing = sorted({(name, p) for _, _, params in operations for p in params} - set(creators))
        assert not missing, f"no creator for these ids (add one to conftest.CREATORS): {missing}"
        for method, path, _ in operations:
            operation = openapi["paths"][path][method.lower()]
            if needs_body(operation):
                assert (method, path) in BODIES, f"{method} {path}: add a valid body to BODIES"

        owner_a, owner_b = await service.owner(), await service.owner()
        ids = {
            p: await creators[(name, p)](service, owner_a) for _, _, ps in operations for p in ps
        }
        tried = []
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

            async def readable_by_a() -> dict[str, Any]:
                """What A reads of each object (its GET routes), to compare afterwards."""
                seen = {}
                for method, path, _ in operations:
                    if method == "GET":
                        r = await client.get(path.format(**ids), headers=owner_a)
                        assert r.status_code == 200, f"A cannot GET its own {path}: {r.text}"
                        media = not r.headers["content-type"].startswith("application/json")
                        seen[path] = r.content if media else r.json()
                return seen

            before = await readable_by_a()
            # Reads first, then changes, deletions last: each B call meets A's live object.
            order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
            for method, path, _ in sorted(operations, key=lambda o: order[o[0]]):
                url = path.format(**ids)
                body = BODIES.get((method, path))
                r = await client.request(method, url, headers=owner_b, json=body)
                tried.append(f"{method} {path}")
                assert r.status_code == 404, f"{method} {url} as B: {r.status_code} {r.text}"
                assert r.json() == {"detail": r.json()["detail"]}
                assert not any(i in r.text for i in ids.values()), f"{method} {path} echoes ids"
            assert await readable_by_a() == before, "B's calls changed A's objects"
    print(f"{name}: B got 404 on {len(tried)} operations: {', '.join(tried) or 'none'}")
    assert tried or name == "gateway"  # the gateway has no route with an id


def test_every_id_route_is_listed() -> None:
    """The generator reads what FastAPI declares: a route's id shows as a path parameter."""
    sample = {
        "paths": {
            "/api/things/{thing_id}": {"get": {"parameters": [{"name": "thing_id", "in": "path"}]}},
            "/api/things": {"get": {"parameters": [{"name": "limit", "in": "query"}]}},
        }
    }
    assert operations_with_ids(sample) == [("GET", "/api/things/{thing_id}", ["thing_id"])]
