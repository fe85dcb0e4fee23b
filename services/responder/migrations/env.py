from common.migrations import run_env
from responder.models import metadata

run_env(metadata)
