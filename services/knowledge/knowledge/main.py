from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, create_service_app
from knowledge.models import outbox
from knowledge.settings import KnowledgeSettings

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: KnowledgeSettings | None = None) -> FastAPI:
    """knowledge: its schema migrated at start and its outbox relay running."""
    settings = settings or KnowledgeSettings()
    runtime = ServiceRuntime(settings, service_dir=SERVICE_DIR, outbox=outbox)
    return create_service_app(
        settings,
        runtime,
        title="WhatsApp AI knowledge",
        description="Documents, chunks and search: the knowledge the AI answers from.",
    )
