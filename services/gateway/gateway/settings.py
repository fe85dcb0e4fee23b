from typing import ClassVar

from pydantic import SecretStr

from common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    dev_secret_fields: ClassVar[tuple[str, ...]] = (
        "internal_token",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
    )

    service_name: str = "gateway"
    # One secret, or several separated by commas while rotating (or for several Meta apps).
    whatsapp_app_secret: SecretStr = SecretStr("dev-app-secret")
    whatsapp_verify_token: SecretStr = SecretStr("dev-verify-token")
    # Meta sends up to 3 MB; a little headroom, then 413.
    webhook_max_bytes: int = 4 * 1024 * 1024
    # Meta's notifications nest about a dozen levels; anything far deeper is not one.
    webhook_max_json_depth: int = 64

    @property
    def app_secrets(self) -> list[str]:
        raw = self.whatsapp_app_secret.get_secret_value()
        return [secret.strip() for secret in raw.split(",") if secret.strip()]
