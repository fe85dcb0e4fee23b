import pytest
from pydantic import ValidationError

from common.settings import CommonSettings


def test_defaults_are_the_documented_local_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "AMQP_URL", "ENVIRONMENT", "INTERNAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = CommonSettings()
    assert settings.database_url == "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert settings.environment == "development"


def test_variables_are_read_by_their_documented_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@db:5432/x")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@mq:5672/")
    monkeypatch.setenv("INTERNAL_TOKEN", "s3cret")
    monkeypatch.setenv("BUS_RETRY_DELAYS_MS", "[5, 50]")
    settings = CommonSettings()
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/x"
    assert settings.amqp_url == "amqp://u:p@mq:5672/"
    assert settings.internal_token.get_secret_value() == "s3cret"
    assert settings.bus_retry_delays_ms == [5, 50]


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        CommonSettings()


def production(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    values = {
        "ENVIRONMENT": "production",
        "INTERNAL_TOKEN": "a-long-random-production-token",
        "DATABASE_URL": "postgresql+asyncpg://app:Xk2-real-password@db:5432/whatsapp_ai",
        "AMQP_URL": "amqps://app:Xk2-real-password@mq:5671/",
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch)
    assert CommonSettings().is_production


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"),
        ("DATABASE_URL", "postgresql+asyncpg://postgres:postgres@postgres:5432/whatsapp_ai"),
        ("AMQP_URL", "amqp://guest:guest@rabbitmq:5672/"),
        ("AMQP_URL", "amqp://app:guest@rabbitmq:5672/"),
        ("AMQP_URL", "amqp://rabbitmq:5672/"),  # no user: RabbitMQ's guest
    ],
)
def test_production_refuses_default_credentials(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str
) -> None:
    production(monkeypatch, **{name: url})
    with pytest.raises(ValidationError, match=f"default credentials: {name}"):
        CommonSettings()


def test_secrets_never_show_in_repr() -> None:
    settings = CommonSettings(internal_token="do-not-print-me")
    assert "do-not-print-me" not in repr(settings)
