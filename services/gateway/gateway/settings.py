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
    whatsapp_app_secret: SecretStr = SecretStr("dev-app-secret")
    whatsapp_verify_token: SecretStr = SecretStr("dev-verify-token")
    # Meta sends up to 3 MB; a little headroom, then 413.
    webhook_max_bytes: int = 4 * 1024 * 1024
