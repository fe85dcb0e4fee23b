"""Golden files pin each event's wire shape: an accidental change fails here.

A deliberate change: add an optional field (same version) or a new `.v2`, then regenerate
with `UPDATE_GOLDEN=1 make test` and review the diff.
"""

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.events import (
    EVENT_TYPES,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    Envelope,
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    WhatsAppStatusUpdatedPayload,
    WhatsAppStatusUpdatedV1,
    WhatsAppWebhookUnhandledPayload,
    WhatsAppWebhookUnhandledV1,
    event_from_dict,
    parse_event,
    to_json,
    whatsapp_message_event_id,
    whatsapp_status_event_id,
)

GOLDEN = Path(__file__).parent / "golden"
AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
COMMON = {"occurred_at": AT, "correlation_id": "c0ffee"}

EXAMPLES: list[Envelope] = [
    WhatsAppMessageReceivedV1(
        event_id=whatsapp_message_event_id("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdBQUZDRjZEMUYA"),
        payload=WhatsAppMessageReceivedPayload(
            waba_id="102290129340398",
            phone_number_id="106540352242922",
            display_phone_number="15550783881",
            wamid="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdBQUZDRjZEMUYA",
            type="text",
            timestamp=AT,
            contact=WhatsAppContact(wa_id="16505551234", name="Sheena Nelson"),
            message={
                "from": "16505551234",
                "id": "wamid.HBgL",
                "timestamp": "1767268800",
                "type": "text",
                "text": {"body": "Olá 👋 / a@b.c"},
            },
        ),
        **COMMON,
    ),
    WhatsAppStatusUpdatedV1(
        event_id=whatsapp_status_event_id("wamid.OUT", "delivered"),
        payload=WhatsAppStatusUpdatedPayload(
            waba_id="102290129340398",
            phone_number_id="106540352242922",
            wamid="wamid.OUT",
            status="delivered",
            timestamp=AT,
            recipient_id="16505551234",
            status_object={"id": "wamid.OUT", "status": "delivered", "timestamp": "1767268800"},
        ),
        **COMMON,
    ),
    WhatsAppWebhookUnhandledV1(
        event_id=uuid.UUID("22222222-2222-4222-8222-222222222222"),
        payload=WhatsAppWebhookUnhandledPayload(
            waba_id="102290129340398",
            field="message_template_status_update",
            reason="field not handled",
            value={"event": "APPROVED", "message_template_id": 12345},
        ),
        **COMMON,
    ),
    ConversationMessageStoredV1(
        event_id=uuid.UUID("33333333-3333-4333-8333-333333333333"),
        tenant_id=TENANT,
        payload=ConversationMessageStoredPayload(
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            wamid="wamid.IN",
            phone_number_id="106540352242922",
            direction="inbound",
            type="text",
            text="Hello",
            sent_at=AT,
        ),
        **COMMON,
    ),
]


def test_every_event_type_has_a_golden_example() -> None:
    assert {e.event_type for e in EXAMPLES} == EVENT_TYPES


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.event_type)
def test_wire_shape_matches_golden_file(event: Envelope) -> None:
    path = GOLDEN / f"{event.event_type}.json"
    wire = json.loads(to_json(event))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(wire, indent=2, ensure_ascii=False) + "\n")
    golden = json.loads(path.read_text())
    assert wire == golden, f"{event.event_type} changed on the wire; see the module docstring"
    # And what is on the wire reads back into the same event.
    assert event_from_dict(golden) == event
    assert parse_event(path.read_bytes()) == event


def test_consumers_ignore_fields_they_do_not_know() -> None:
    wire = json.loads(to_json(EXAMPLES[3]))
    wire["added_later"] = 1
    wire["payload"]["also_added_later"] = "x"
    assert parse_event(json.dumps(wire)) == EXAMPLES[3]


def test_unknown_event_type_is_refused() -> None:
    wire = json.loads(to_json(EXAMPLES[3]))
    wire["event_type"] = "conversation.message.stored.v9"
    with pytest.raises(ValidationError):
        parse_event(json.dumps(wire))


def test_ids_from_whatsapp_ids_are_deterministic() -> None:
    assert whatsapp_message_event_id("wamid.A") == whatsapp_message_event_id("wamid.A")
    assert whatsapp_message_event_id("wamid.A") != whatsapp_message_event_id("wamid.B")
    assert whatsapp_status_event_id("wamid.A", "read") != whatsapp_status_event_id(
        "wamid.A", "delivered"
    )


def test_new_events_get_fresh_ids_and_aware_times() -> None:
    payload = EXAMPLES[3].payload
    assert isinstance(payload, ConversationMessageStoredPayload)
    a = ConversationMessageStoredV1(payload=payload)
    b = ConversationMessageStoredV1(payload=payload)
    assert a.event_id != b.event_id
    assert a.occurred_at.tzinfo is not None
