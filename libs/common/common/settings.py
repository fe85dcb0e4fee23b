"""Settings shared by every service; env names as listed in docs/operations.md."""

from typing import Any, ClassVar, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"


# Passwords every Postgres and RabbitMQ tutorial uses: a production URL with one is refused.
DEFAULT_PASSWORDS = frozenset({"", "postgres", "password", "guest"})


def _default_logins(database_url: str, amqp_url: str) -> list[str]:
    found = []
    db = make_url(database_url)
    if db.drivername.startswith("postgresql") and (db.password or "") in DEFAULT_PASSWORDS:
        found.append("DATABASE_URL has no password or a default one")
    broker = urlsplit(amqp_url)
    if (broker.username or "guest") == "guest" or (broker.password or "") in DEFAULT_PASSWORDS:
        found.append("AMQP_URL uses the guest user or a default password")
    return found


class CommonSettings(BaseSettings):
    """Fields every service reads. A service subclasses it with its own fields.

    Build one per process and pass it in (`create_app(settings)`); never at import time.
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # Fields that hold secrets: in production each must differ from its development default.
    dev_secret_fields: ClassVar[tuple[str, ...]] = ("internal_token",)

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = 10
    amqp_url: str = DEFAULT_AMQP_URL
    # Prefix for the exchange and queue names: isolates test runs and shared brokers.
    bus_prefix: str = ""
    bus_prefetch: int = 32
    # Fixed delay tiers (ms) of the retry queues; after the last one, the dead-letter queue.
    bus_retry_delays_ms: list[int] = [1_000, 10_000, 60_000, 300_000]
    # Consumers declare quorum queues; set false for a broker without them (RabbitMQ < 3.8).
    bus_quorum_queues: bool = True
    bus_reconnect_interval_s: float = 2.0
    # Unset in production. Tests set it so their prefixed queues expire once unused.
    bus_queue_expires_ms: int | None = None
    # The relay is woken by every commit that wrote outbox rows (and by a bus reconnect): the
    # poll only finds rows another process left. 0.5 s cost an idle ingest ~3 transactions/s.
    outbox_poll_interval_s: float = 2.0
    # How often each process deletes rows past their retention (common.retention), and how
    # long an event's claim is kept: a redelivery or a dead letter replayed within it is
    # recognised as done; one replayed later would be handled again.
    purge_interval_s: float = 3600.0
    processed_events_retention_days: float = 14.0

    internal_token: SecretStr = SecretStr("dev-internal-token")
    # Any request body above this is a 413 before it is parsed (uploads and webhooks have
    # their own, larger caps).
    max_body_bytes: int = 1024 * 1024

    # Token verification (auth signs; every other service verifies with its JWKS).
    auth_jwks_url: str = "http://localhost:8001/.well-known/jwks.json"
    # A JWKS document given inline (JSON) instead of fetched: for tests and air-gapped deploys.
    auth_jwks_json: str | None = None
    # Where auth lists the users removed within the token lifetime (the revocation set's
    # durable source). Unset: next to AUTH_JWKS_URL; with AUTH_JWKS_JSON, none (events only).
    auth_revocations_url: str | None = None
    revocation_sync_interval_s: float = 30.0
    jwt_issuer: str = "whatsapp-ai-auth"
    jwt_audience: str = "whatsapp-ai"

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> "CommonSettings":
        if self.environment != "production":
            return self
        fields = type(self).model_fields
        weak = []
        for name in self.dev_secret_fields:
            value: Any = getattr(self, name)
            default: Any = fields[name].default
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            if not value or value == default:
                weak.append(name.upper())
        if weak:
            raise ValueError(
                "ENVIRONMENT=production refuses development secrets; set " + ", ".join(weak)
            )
        default_logins = _default_logins(self.database_url, self.amqp_url)
        if default_logins:
            raise ValueError(
                "ENVIRONMENT=production refuses default credentials: " + "; ".join(default_logins)
            )
        return self

    @property
    def revocations_url(self) -> str | None:
        if self.auth_revocations_url or self.auth_jwks_json:
            return self.auth_revocations_url
        return urljoin(self.auth_jwks_url, "/internal/revocations")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
