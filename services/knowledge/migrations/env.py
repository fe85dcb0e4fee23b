from common.migrations import run_env
from knowledge.models import metadata

run_env(metadata)
