from fastapi import FastAPI
from starlette.types import ASGIApp

from common.app import ServiceRuntime, create_service_app
from gateway.api import WEBHOOK_PATH, WebhookFastPath, router
from gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway: no database; a broker connection with publisher confirms."""
    settings = settings or GatewaySettings()
    runtime = ServiceRuntime(settings, checks_tokens=False)

    def fast_path(stack: ASGIApp) -> ASGIApp:
        return WebhookFastPath(stack, settings)

    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI gateway",
        description="Receives Meta's WhatsApp webhooks and publishes one event per item.",
        routers=[router],
        body_limits={WEBHOOK_PATH: settings.webhook_max_bytes},
        # Meta's POSTs skip the middleware stack: the fast path does its work inline.
        outermost=fast_path,
    )
