from common.settings import CommonSettings


class KnowledgeSettings(CommonSettings):
    service_name: str = "knowledge"
