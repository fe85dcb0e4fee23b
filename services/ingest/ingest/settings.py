from common.settings import CommonSettings


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
