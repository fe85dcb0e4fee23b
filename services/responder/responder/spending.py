"""What the LLM may cost a business: only the operator's priced models, a monthly budget,
and per-minute limits on previews and answered turns (counted atomically in Postgres, shared
by every replica)."""

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import Database
from common.errors import AppError
from common.ratelimit import FixedWindowLimiter, Limit, too_many
from responder import repository
from responder.models import rate_limit_buckets
from responder.schemas import ModelOut, ModelsOut
from responder.settings import ResponderSettings

log = structlog.get_logger(__name__)

MINUTE = 60


def check_model(settings: ResponderSettings, model: str) -> None:
    """A business may only choose a model the operator offers."""
    if model not in settings.allowed_models:
        offered = ", ".join(sorted(settings.allowed_models))
        raise AppError(422, f"model: {model!r} is not offered; choose one of: {offered}")


def offered_models(settings: ResponderSettings) -> ModelsOut:
    return ModelsOut(
        items=[
            ModelOut(
                id=model,
                input_usd_per_million=prices[0] if prices else None,
                output_usd_per_million=prices[1] if prices else None,
                default=model == settings.llm_model,
            )
            for model, prices in sorted(
                (m, settings.llm_models.get(m)) for m in settings.allowed_models
            )
        ]
    )


def effective_model(settings: ResponderSettings, chosen: str | None) -> str:
    """The model a business's answers use. One saved before the allow-list, or since taken
    off it, is never called: the default answers instead."""
    if chosen is None or chosen in settings.allowed_models:
        return chosen or settings.llm_model
    log.warning("responder.model_not_allowed", model=chosen, using=settings.llm_model)
    return settings.llm_model


def price(settings: ResponderSettings, model: str, tokens_in: int, tokens_out: int) -> float | None:
    """USD for one call; None when the model has no price (unknown, never shown as 0)."""
    prices = settings.llm_models.get(model)
    if prices is None:
        log.warning("responder.model_without_price", model=model)
        return None
    return round((tokens_in * prices[0] + tokens_out * prices[1]) / 1_000_000, 6)


async def add_spend(session: AsyncSession, tenant_id: uuid.UUID, cost: float | None) -> None:
    """Count a call's cost in this month's spend, in the caller's transaction."""
    if cost:
        await repository.add_spend(session, tenant_id, cost)


async def budget_exhausted(
    session: AsyncSession, settings: ResponderSettings, tenant_id: uuid.UUID
) -> str | None:
    """Why the LLM may not be called for this business now, if its budget is spent.

    Soft by the calls in flight: turns that passed the check together all finish."""
    if settings.tenant_llm_budget_usd <= 0:
        return None
    return over_budget(settings, await repository.spent_this_month(session, tenant_id))


def over_budget(settings: ResponderSettings, used: float) -> str | None:
    """Why the LLM may not be called, given this month's spend (see `budget_exhausted`)."""
    budget = settings.tenant_llm_budget_usd
    if budget <= 0 or used < budget:
        return None
    return f"the AI budget is exhausted (${used:.2f} of ${budget:.2f} this month)"


def seconds_to_next_month(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return max(1, int((first - now).total_seconds()))


class TenantLimits:
    """Per-business, per-minute counters of previews and answered customer turns."""

    def __init__(self, db: Database, settings: ResponderSettings) -> None:
        self.limiter = FixedWindowLimiter(db, rate_limit_buckets)
        self.settings = settings

    async def preview(self, tenant_id: uuid.UUID) -> None:
        """Count one preview; a 429 with Retry-After past the limit."""
        wait = await self.limiter.hit(
            [Limit(f"preview:{tenant_id}", self.settings.preview_rate_per_min, MINUTE)]
        )
        if wait is not None:
            raise too_many(
                wait,
                f"too many previews: at most {self.settings.preview_rate_per_min} a minute"
                f" per business; try again in {wait} s",
            )

    async def turn(self, tenant_id: uuid.UUID) -> int | None:
        """Count one answered turn; the seconds it must wait when past the limit."""
        return await self.limiter.hit(
            [Limit(f"turn:{tenant_id}", self.settings.ai_turns_per_min, MINUTE)]
        )
