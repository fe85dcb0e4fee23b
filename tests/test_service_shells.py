"""Every service starts: schema migrated, /health, /metrics and OpenAPI served."""

import importlib

import pytest
from sqlalchemy import text

from wa_testing.plugin import TestKeyPair, running_app, service_settings

SERVICES = {
    "gateway": ("gateway.main", "gateway.settings", "GatewaySettings", None),
    "auth": ("auth.main", "auth.settings", "AuthSettings", "auth"),
    "ingest": ("ingest.main", "ingest.settings", "IngestSettings", "ingest"),
    "knowledge": ("knowledge.main", "knowledge.settings", "KnowledgeSettings", "knowledge"),
    "responder": ("responder.main", "responder.settings", "ResponderSettings", "responder"),
}


@pytest.mark.parametrize("name", list(SERVICES))
async def test_the_service_starts_healthy_with_its_schema(
    name: str, database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> None:
    main_module, settings_module, settings_class, schema = SERVICES[name]
    settings_cls = getattr(importlib.import_module(settings_module), settings_class)
    settings = service_settings(
        settings_cls,
        database_url=database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
    )
    app = importlib.import_module(main_module).create_app(settings)
    async with running_app(app) as client:
        health = await client.get("/health")
        assert health.status_code == 200, health.text
        checks = health.json()["checks"]
        assert checks["broker"] == "ok"
        if schema is not None:
            assert checks["database"] == "ok"
            assert checks["outbox_relay"] == "ok"
            async with app.state.db.sessionmaker() as session:
                version = await session.scalar(
                    text(f"select version_num from {schema}.alembic_version")
                )
            assert version is not None
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert "http_requests_total" in metrics.text
        openapi = (await client.get("/openapi.json")).json()
        assert "/health" in openapi["paths"]
        assert openapi["info"]["title"].endswith(name)
