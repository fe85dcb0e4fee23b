from common.db import make_metadata
from common.idempotency import processed_events_table
from common.outbox import outbox_table

SCHEMA = "responder"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
