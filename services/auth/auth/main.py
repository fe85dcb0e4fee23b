from pathlib import Path

from fastapi import FastAPI

from auth.models import outbox
from auth.settings import AuthSettings
from common.app import ServiceRuntime, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """auth: its schema migrated at start and its outbox relay running."""
    settings = settings or AuthSettings()
    runtime = ServiceRuntime(settings, service_dir=SERVICE_DIR, outbox=outbox)
    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI auth",
        description="Businesses, users, roles and the tokens every service trusts.",
    )
