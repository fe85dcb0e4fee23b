from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from responder.models import outbox
from responder.settings import ResponderSettings

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: ResponderSettings | None = None) -> FastAPI:
    """responder: its schema migrated at start and its outbox relay running."""
    settings = settings or ResponderSettings()
    runtime = ServiceRuntime(settings, service_dir=SERVICE_DIR, outbox=outbox)
    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI responder",
        description="The AI: grounded answers, per-tenant persona and prompts, handoff, analytics.",
    )
