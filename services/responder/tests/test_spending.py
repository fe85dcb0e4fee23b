"""What the LLM may cost a business: the priced model allow-list, unknown prices never shown
as 0, the monthly budget and the per-minute limits (HTTP, real Postgres, the fake LLM)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from common.db import Database
from responder.main import create_app
from responder.settings import ResponderSettings
from responder.spending import offered_models, price
from wa_testing.fakes import FakeLLM
from wa_testing.plugin import TestKeyPair, bearer, running_app

# Nothing listens here: the knowledge search fails at once (the preview falls back).
NO_KNOWLEDGE = "http://127.0.0.1:9"


def owner(keys: TestKeyPair, tenant: uuid.UUID, role: str = "owner") -> dict[str, str]:
    return bearer(keys.token(tenant_id=tenant, role=role))


@pytest.fixture
async def db(responder_settings: ResponderSettings) -> AsyncIterator[Database]:
    database = Database(responder_settings.database_url, pool_size=2)
    yield database
    await database.dispose()


def app_with(settings: ResponderSettings, **changes: Any) -> Any:
    return running_app(
        create_app(settings.model_copy(update={"knowledge_url": NO_KNOWLEDGE, **changes}))
    )


async def test_only_the_operator_s_models_can_be_chosen(
    responder_settings: ResponderSettings, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    async with app_with(responder_settings) as client:
        refused = await client.put(
            "/api/ai/settings", json={"model": "openai/o1-pro"}, headers=owner(test_keys, tenant)
        )
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "'openai/o1-pro' is not offered" in detail
        assert "anthropic/claude-3.5-haiku" in detail and "openai/gpt-4o-mini" in detail
        got = await client.get("/api/ai/settings", headers=owner(test_keys, tenant))
        assert got.json()["model"] == "anthropic/claude-3.5-haiku"  # nothing stored
        offered = await client.get("/api/ai/models", headers=owner(test_keys, tenant, "agent"))
        items = {m["id"]: m for m in offered.json()["items"]}
        assert set(items) == responder_settings.allowed_models
        assert items["anthropic/claude-3.5-haiku"] == {
            "id": "anthropic/claude-3.5-haiku",
            "input_usd_per_million": 0.8,
            "output_usd_per_million": 4.0,
            "default": True,
        }
        assert items["openai/gpt-4o-mini"]["output_usd_per_million"] == 0.6
        assert not items["openai/gpt-4o-mini"]["default"]
        chosen = await client.put(
            "/api/ai/settings",
            json={"model": "openai/gpt-4o-mini"},
            headers=owner(test_keys, tenant),
        )
        assert chosen.status_code == 200 and chosen.json()["model"] == "openai/gpt-4o-mini"


def test_the_operators_own_models_are_offered_even_unpriced(
    responder_settings: ResponderSettings,
) -> None:
    """LLM_MODEL and LLM_FALLBACK_MODEL are the operator's choice: offered, and without a
    listed price their cost is unknown (None), never 0; negative prices are refused."""
    values = responder_settings.model_dump()
    settings = ResponderSettings(
        **{
            **values,
            "llm_model": "acme/house-model",
            "llm_fallback_model": "some/unpriced-model",
            "llm_models": {"openai/gpt-4o-mini": (0.15, 0.6)},
        }
    )
    assert settings.allowed_models == {
        "openai/gpt-4o-mini",
        "acme/house-model",
        "some/unpriced-model",
    }
    assert price(settings, "acme/house-model", 1000, 1000) is None
    listed = {m.id: m for m in offered_models(settings).items}
    assert listed["acme/house-model"].default
    assert listed["acme/house-model"].input_usd_per_million is None
    assert listed["openai/gpt-4o-mini"].output_usd_per_million == 0.6
    with pytest.raises(ValidationError, match="may not be negative"):
        ResponderSettings(**{**values, "llm_models": {"x/y": (-1.0, 0.0)}})


def test_a_model_without_a_price_costs_unknown_not_zero(
    responder_settings: ResponderSettings,
) -> None:
    assert price(responder_settings, "someone/unpriced", 1000, 1000) is None
    assert price(responder_settings, "anthropic/claude-3.5-haiku", 1_000_000, 0) == 0.8


async def test_unknown_costs_are_null_in_analytics_never_zero(
    responder_settings: ResponderSettings, test_keys: TestKeyPair, db: Database
) -> None:
    """Replies from before the allow-list whose model had no price (costed at 0 then; the
    migration made them null) make the period's cost unknown, and say how many there are."""
    tenant, priced_tenant = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with db.session() as session:
        for who, cost in ((tenant, None), (tenant, 0.002), (priced_tenant, 0.002)):
            await session.execute(
                text(
                    "insert into responder.replies (id, tenant_id, conversation_id, message_id,"
                    " customer_message_at, outcome, sources, model, tokens_in, tokens_out,"
                    " latency_ms, cost_usd) values (:id, :tenant, :c, :m, :at, 'answer', '[]',"
                    " 'm', 500, 100, 10, :cost)"
                ),
                {
                    "id": uuid.uuid4(),
                    "tenant": who,
                    "c": uuid.uuid4(),
                    "m": uuid.uuid4(),
                    "at": now,
                    "cost": cost,
                },
            )
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    async with app_with(responder_settings) as client:
        summary = (
            await client.get(
                "/api/analytics/summary", params=params, headers=owner(test_keys, tenant)
            )
        ).json()
        daily = (
            await client.get(
                "/api/analytics/daily", params=params, headers=owner(test_keys, tenant)
            )
        ).json()
        priced = (
            await client.get(
                "/api/analytics/summary", params=params, headers=owner(test_keys, priced_tenant)
            )
        ).json()
    assert summary["cost_usd"] is None and summary["unpriced_replies"] == 1
    assert summary["tokens_in"] == 1000 and summary["ai_replies"] == 2
    [day] = [d for d in daily["items"] if d["ai_replies"]]
    assert day["cost_usd"] is None and day["unpriced_replies"] == 1
    assert priced["cost_usd"] == pytest.approx(0.002) and priced["unpriced_replies"] == 0


async def test_previews_are_rate_limited_per_business(
    responder_settings: ResponderSettings, test_keys: TestKeyPair
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    async with app_with(responder_settings, preview_rate_per_min=3) as client:

        async def preview(who: uuid.UUID, role: str = "owner") -> httpx.Response:
            return await client.post(
                "/api/ai/preview",
                json={"message": "Open on Sunday?"},
                headers=owner(test_keys, who, role),
            )

        # Agents may preview (the API requires no role) but share their business's allowance.
        codes = [(await preview(tenant, role)).status_code for role in ("owner", "agent", "admin")]
        assert codes == [200, 200, 200]
        refused = await preview(tenant, "agent")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "too many previews: at most 3 a minute" in refused.json()["detail"]
        assert (await preview(other)).status_code == 200


async def test_a_spent_budget_refuses_previews_without_calling_the_llm(
    responder_settings: ResponderSettings, test_keys: TestKeyPair, fake_llm: FakeLLM, db: Database
) -> None:
    tenant = uuid.uuid4()
    async with db.session() as session:
        await session.execute(
            text(
                "insert into responder.llm_spend (tenant_id, month, cost_usd)"
                " values (:t, date_trunc('month', now() at time zone 'UTC')::date, 5.0)"
            ),
            {"t": tenant},
        )
    llm = {"llm_base_url": fake_llm.base_url, "llm_api_key": SecretStr("sk-test")}
    async with app_with(responder_settings, tenant_llm_budget_usd=5.0, **llm) as client:
        r = await client.post(
            "/api/ai/preview", json={"message": "Open on Sunday?"}, headers=owner(test_keys, tenant)
        )
        assert r.status_code == 429
        assert r.json()["detail"].startswith("the AI budget is exhausted ($5.00 of $5.00")
        assert int(r.headers["Retry-After"]) >= 1
        fresh = await client.post(
            "/api/ai/preview",
            json={"message": "Open on Sunday?"},
            headers=owner(test_keys, uuid.uuid4()),
        )
        assert fresh.status_code == 200  # another business has its own budget
    assert fake_llm.requests == []
