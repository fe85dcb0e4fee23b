from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from ingest.consumers import subscriptions
from ingest.models import outbox
from ingest.settings import IngestSettings

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """ingest: its schema migrated at start, its consumers and outbox relay running."""
    settings = settings or IngestSettings()
    runtime = ServiceRuntime(
        settings, service_dir=SERVICE_DIR, outbox=outbox, subscriptions=subscriptions
    )
    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI ingest",
        description="Channels, contacts, conversations and messages.",
    )
