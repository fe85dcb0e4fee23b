from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from common.bus import Bus, Subscription
from common.db import Database
from common.retention import claims_kept, windows_kept
from responder.answer import Answerer
from responder.api import (
    analytics_router,
    csat_router,
    hours_router,
    prompts_router,
    settings_router,
)
from responder.consumers import subscriptions
from responder.knowledge import KnowledgeClient
from responder.llm import ChatClient
from responder.models import outbox, processed_events, rate_limit_buckets
from responder.settings import ResponderSettings
from responder.spending import TenantLimits
from responder.turns import TurnHandler

SERVICE_DIR = Path(__file__).resolve().parent.parent


class ResponderRuntime(ServiceRuntime):
    """Adds the knowledge and LLM clients, the answerer and the turn handler."""

    settings: ResponderSettings

    async def start(self) -> None:
        s = self.settings
        self.knowledge = KnowledgeClient(
            s.knowledge_url, s.internal_token.get_secret_value(), s.knowledge_timeout_s
        )
        self.chat = (
            ChatClient(
                base_url=s.llm_base_url,
                api_key=s.llm_api_key.get_secret_value(),
                timeout_s=s.llm_timeout_s,
                max_attempts=s.llm_max_attempts,
                backoff_s=s.llm_backoff_s,
                referer=s.llm_referer,
                title=s.llm_title,
            )
            if s.llm_api_key
            else None
        )
        self.answerer = Answerer(s, self.knowledge, self.chat)
        await super().start()  # consumers start last: they need the handler below

    @property
    def limits(self) -> TenantLimits:
        assert self.db is not None
        if not hasattr(self, "_limits"):
            self._limits = TenantLimits(self.db, self.settings)
        return self._limits

    def app_state(self) -> dict[str, object]:
        return {**super().app_state(), "answerer": self.answerer, "limits": self.limits}

    async def stop(self) -> None:
        await super().stop()
        await self.knowledge.close()
        if self.chat is not None:
            await self.chat.close()

    @property
    def turns(self) -> TurnHandler:
        assert self.db is not None
        if not hasattr(self, "_turns"):
            self._turns = turn_handler(self.settings, self.db, self.answerer, self.bus, self.limits)
        return self._turns

    def consumer_subscriptions(self) -> list[Subscription]:
        assert self.db is not None
        return subscriptions(self.db, self.turns)


def turn_handler(
    settings: ResponderSettings,
    db: Database,
    answerer: Answerer,
    bus: Bus | None,
    limits: TenantLimits,
) -> TurnHandler:
    return TurnHandler(
        db,
        answerer,
        settings.quiet_period_s,
        announce=bus.publish if bus is not None else None,
        lease_s=settings.turn_lease_s,
        settings=settings,
        limits=limits,
    )


def consumer_names() -> list[str]:
    """The responder's consumer names for `make dlq-list` / `dlq-replay` (the
    `whatsapp_ai.consumers` entry point): read off the same subscriptions the runtime makes,
    so the two cannot drift. Built, never started: nothing connects (no LLM client: the
    offline answerer), and development defaults size them, so listing queues needs no
    production secrets."""
    settings = ResponderSettings(environment="development")
    db = Database(settings.database_url, pool_size=1)
    knowledge = KnowledgeClient(settings.knowledge_url, "", settings.knowledge_timeout_s)
    answerer = Answerer(settings, knowledge, None)
    turns = turn_handler(settings, db, answerer, None, TenantLimits(db, settings))
    return [s.consumer for s in subscriptions(db, turns)]


def create_app(settings: ResponderSettings | None = None) -> FastAPI:
    """responder: answers customers from their business's knowledge, or hands over."""
    settings = settings or ResponderSettings()
    runtime = ResponderRuntime(
        settings,
        service_dir=SERVICE_DIR,
        outbox=outbox,
        retention=[claims_kept(processed_events, settings), windows_kept(rate_limit_buckets)],
    )
    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI responder",
        description="The AI: grounded answers, per-tenant persona and prompts, handoff, analytics.",
        routers=[settings_router, prompts_router, analytics_router, hours_router, csat_router],
    )
