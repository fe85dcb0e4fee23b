"""The responder's settings and prompt-template API over HTTP, on real Postgres."""

import uuid
from typing import Any

import httpx
import pytest

from responder.handoff import DEFAULT_HANDOFF_KEYWORDS
from responder.main import create_app
from responder.settings import ResponderSettings
from wa_testing.plugin import TestKeyPair, assert_tenant_isolation, bearer, running_app


@pytest.fixture
async def client(responder_settings: ResponderSettings) -> Any:
    async with running_app(create_app(responder_settings)) as c:
        yield c


def owner(keys: TestKeyPair, tenant: uuid.UUID | None = None) -> dict[str, str]:
    return bearer(keys.token(tenant_id=tenant or uuid.uuid4(), role="owner"))


async def test_a_new_business_starts_with_the_ai_on_and_the_defaults(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    r = await client.get("/api/ai/settings", headers=owner(test_keys))
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {
        "enabled",
        "model",
        "persona",
        "instructions",
        "temperature",
        "max_output_tokens",
        "history_messages",
        "handoff_keywords",
        "fallback_message",
        "prompt_template_id",
    }
    assert body["enabled"] is True
    assert body["model"] == "anthropic/claude-3.5-haiku"
    assert body["prompt_template_id"] is None  # the default template
    assert body["handoff_keywords"] == list(DEFAULT_HANDOFF_KEYWORDS)
    assert body["fallback_message"]


async def test_settings_change_in_part_and_stay_per_tenant(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    a, b = owner(test_keys), owner(test_keys)
    r = await client.put(
        "/api/ai/settings",
        json={
            "persona": "Warm and brief.",
            "temperature": 0.7,
            "handoff_keywords": ["gerente", "gerente"],
        },
        headers=a,
    )
    assert r.status_code == 200, r.text
    assert r.json()["persona"] == "Warm and brief." and r.json()["temperature"] == 0.7
    assert r.json()["handoff_keywords"] == ["gerente"]
    assert (await client.get("/api/ai/settings", headers=a)).json()["persona"] == "Warm and brief."
    r = await client.put("/api/ai/settings", json={"enabled": False}, headers=a)
    assert r.json()["enabled"] is False and r.json()["persona"] == "Warm and brief."
    assert (await client.get("/api/ai/settings", headers=b)).json()["persona"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"history_messages": 500}, "history_messages"),
        ({"fallback_message": "  "}, "fallback_message"),
        ({"handoff_keywords": [""]}, "handoff_keywords"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_settings_are_422_naming_the_field(
    client: httpx.AsyncClient, test_keys: TestKeyPair, body: dict[str, Any], field: str
) -> None:
    r = await client.put("/api/ai/settings", json=body, headers=owner(test_keys))
    assert r.status_code == 422
    assert field in {str(p) for e in r.json()["detail"] for p in e["loc"]}


@pytest.mark.parametrize("field", ["persona", "handoff_keywords"])
async def test_null_for_a_required_setting_is_422(
    client: httpx.AsyncClient, test_keys: TestKeyPair, field: str
) -> None:
    # handoff_keywords: null was a 500 (the fuzzer found it): repeats were dropped first.
    r = await client.put("/api/ai/settings", json={field: None}, headers=owner(test_keys))
    assert r.status_code == 422
    assert r.json() == {"detail": f"{field}: may not be null"}


async def test_agents_read_but_cannot_change_the_settings(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    agent = bearer(test_keys.token(role="agent"))
    assert (await client.get("/api/ai/settings", headers=agent)).status_code == 200
    assert (
        await client.put("/api/ai/settings", json={"enabled": False}, headers=agent)
    ).status_code == 403
    assert (
        await client.post("/api/prompts", json={"name": "x", "body": "y"}, headers=agent)
    ).status_code == 403


async def test_prompt_templates_are_validated_saved_used_and_protected(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    a = owner(test_keys)
    bad = await client.post(
        "/api/prompts",
        json={"name": "bad", "body": "Hi {{ business_name }}\n{{ password }}"},
        headers=a,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("unknown variable 'password' on line 2")
    broken = await client.post("/api/prompts", json={"name": "b", "body": "{% if x %}"}, headers=a)
    assert broken.status_code == 422 and "line 1" in broken.json()["detail"]

    created = await client.post(
        "/api/prompts",
        json={"name": "Short", "body": "You help {{ business_name }}.\n{{ knowledge }}"},
        headers=a,
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert set(template) == {"id", "name", "body", "created_at", "updated_at"}
    dup = await client.post("/api/prompts", json={"name": "Short", "body": "x"}, headers=a)
    assert dup.status_code == 409

    used = await client.put(
        "/api/ai/settings", json={"prompt_template_id": template["id"]}, headers=a
    )
    assert used.json()["prompt_template_id"] == template["id"]
    in_use = await client.delete(f"/api/prompts/{template['id']}", headers=a)
    assert in_use.status_code == 409

    updated = await client.put(
        f"/api/prompts/{template['id']}", json={"body": "Now {{ now }}"}, headers=a
    )
    assert updated.status_code == 200 and updated.json()["body"] == "Now {{ now }}"
    refused = await client.put(
        f"/api/prompts/{template['id']}", json={"body": "{{ nope }}"}, headers=a
    )
    assert refused.status_code == 422
    listing = await client.get("/api/prompts", headers=a)
    assert [t["id"] for t in listing.json()["items"]] == [template["id"]]

    await client.put("/api/ai/settings", json={"prompt_template_id": None}, headers=a)
    assert (await client.delete(f"/api/prompts/{template['id']}", headers=a)).status_code == 204
    assert (await client.get(f"/api/prompts/{template['id']}", headers=a)).status_code == 404


@pytest.mark.parametrize(
    "bomb",
    [
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 9 ** 9 ** 9 }}",
        "{{ 'x' * 10**10 }}",
    ],
)
async def test_templates_that_would_stall_the_responder_are_422_naming_the_line(
    client: httpx.AsyncClient, test_keys: TestKeyPair, bomb: str
) -> None:
    a = owner(test_keys)
    body = f"Hello {{{{ business_name }}}}\n{bomb}\n"
    r = await client.post("/api/prompts", json={"name": "bomb", "body": body}, headers=a)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("template error on line 2: ")
    good = await client.post("/api/prompts", json={"name": "ok", "body": "Hi"}, headers=a)
    update = await client.put(f"/api/prompts/{good.json()['id']}", json={"body": body}, headers=a)
    assert update.status_code == 422 and "line 2" in update.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/ai/settings", '{"persona": "warm\\u0000"}'),
        ("/api/ai/settings", '{"instructions": "\\ud800"}'),
        ("/api/ai/settings", '{"handoff_keywords": ["human", "a\\u0000"]}'),
        ("/api/prompts", '{"name": "n", "body": "Hi\\u0000 {{ business_name }}"}'),
        ("/api/prompts", '{"name": "n\\u0000", "body": "Hi"}'),
        ("/api/ai/preview", '{"message": "hours?\\u0000"}'),
    ],
)
async def test_text_postgres_cannot_store_is_a_422_never_a_500(
    client: httpx.AsyncClient, test_keys: TestKeyPair, path: str, body: str
) -> None:
    """Issue 12, finding 14: NUL (or a lone surrogate) in personas and prompts was a 500."""
    headers = owner(test_keys) | {"content-type": "application/json"}
    method = "PUT" if path == "/api/ai/settings" else "POST"
    r = await client.request(method, path, content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)  # FastAPI's validation form, naming the field


async def test_settings_cannot_point_at_another_tenant_s_template(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    a, b = owner(test_keys), owner(test_keys)
    theirs = (await client.post("/api/prompts", json={"name": "t", "body": "x"}, headers=a)).json()
    r = await client.put("/api/ai/settings", json={"prompt_template_id": theirs["id"]}, headers=b)
    assert r.status_code == 422


async def test_prompt_templates_are_isolated_between_tenants(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    async def create(headers: dict[str, str]) -> str:
        r = await client.post(
            "/api/prompts",
            json={"name": f"p-{uuid.uuid4().hex[:6]}", "body": "Hi {{ persona }}"},
            headers=headers,
        )
        return str(r.json()["id"])

    await assert_tenant_isolation(
        client,
        test_keys,
        create=create,
        item_path="/api/prompts/{id}",
        list_path="/api/prompts",
        updates=[("PUT", {"body": "taken over"})],
    )


async def test_the_variables_are_documented(client: httpx.AsyncClient) -> None:
    variables = (await client.get("/api/prompts/variables")).json()
    assert {"business_name", "knowledge", "customer_name", "history", "now"} <= set(variables)
