"""auth's own secrets: the admin token (key rotation) is refused in production when weak."""

import pytest
from pydantic import ValidationError

from auth.settings import AuthSettings

STRONG = {
    "environment": "production",
    "internal_token": "a-long-random-service-token",
    "database_url": "postgresql+asyncpg://app:a-real-password@db:5432/whatsapp_ai",
    "amqp_url": "amqp://app:a-real-password@mq:5672/",
}


def test_production_refuses_the_development_admin_token() -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN"):
        AuthSettings(**STRONG)


def test_production_refuses_an_admin_token_equal_to_the_service_token() -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN must differ from INTERNAL_TOKEN"):
        AuthSettings(**STRONG, admin_token=STRONG["internal_token"])


def test_production_accepts_a_separate_admin_token() -> None:
    settings = AuthSettings(**STRONG, admin_token="another-long-random-token")
    assert settings.admin_token.get_secret_value() == "another-long-random-token"
