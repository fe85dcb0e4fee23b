from common.settings import CommonSettings


class AuthSettings(CommonSettings):
    service_name: str = "auth"
