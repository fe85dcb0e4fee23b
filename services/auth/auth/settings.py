from typing import ClassVar

from pydantic import SecretStr, model_validator

from common.settings import CommonSettings


class AuthSettings(CommonSettings):
    service_name: str = "auth"
    dev_secret_fields: ClassVar[tuple[str, ...]] = ("internal_token", "admin_token")

    # What an operator rotates the signing key with (`POST /internal/keys/rotate`), apart
    # from INTERNAL_TOKEN, which every service holds to call the others: a leaked service
    # token must not let its holder change which key signs everyone's tokens.
    admin_token: SecretStr = SecretStr("dev-admin-token")

    # Access tokens last 7 days (docs/operations.md) and can be renewed before they expire.
    access_token_ttl_s: int = 7 * 24 * 3600
    # A PEM-encoded Ed25519 private key. Unset: auth generates one on first start and keeps
    # it in its schema (the embedded default).
    auth_signing_key_pem: SecretStr | None = None

    # argon2id, OWASP's first recommended configuration: 46 MiB, 1 iteration, 1 lane.
    argon2_memory_kib: int = 47_104
    argon2_time_cost: int = 1
    argon2_parallelism: int = 1

    # Fixed-window rate limits per email and per client address: failed logins, and
    # registrations (every attempt). Generous per address: offices share one address.
    login_limit_per_email: int = 10
    login_limit_per_address: int = 100
    login_window_s: int = 900
    register_limit_per_email: int = 10
    register_limit_per_address: int = 100
    register_window_s: int = 3600

    @model_validator(mode="after")
    def _admin_token_is_not_the_service_token(self) -> "AuthSettings":
        same = self.admin_token.get_secret_value() == self.internal_token.get_secret_value()
        if self.is_production and same:
            raise ValueError("ADMIN_TOKEN must differ from INTERNAL_TOKEN")
        return self
