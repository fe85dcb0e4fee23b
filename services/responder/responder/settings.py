from common.settings import CommonSettings


class ResponderSettings(CommonSettings):
    service_name: str = "responder"
