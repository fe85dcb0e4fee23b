from common.migrations import run_env
from ingest.models import metadata

run_env(metadata)
