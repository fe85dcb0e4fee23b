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
    AutoReplyPayload,
    AutoReplyV1,
    ContactErasedPayload,
    ContactErasedV1,
    ContactSummary,
    ConversationCSATReceivedPayload,
    ConversationCSATReceivedV1,
    ConversationMessageStoredPayload,
    ConversationMessageStoredV1,
    ConversationNoteCreatedPayload,
    ConversationNoteCreatedV1,
    ConversationSummary,
    ConversationUpdatedV1,
    CSATRating,
    CSATRequestedPayload,
    CSATRequestedV1,
    DocumentFailedPayload,
    DocumentFailedV1,
    DocumentIndexedPayload,
    DocumentIndexedV1,
    DocumentUploadedPayload,
    DocumentUploadedV1,
    Envelope,
    HandoffRequestedPayload,
    HandoffRequestedV1,
    HistoryItem,
    MessageMediaPendingPayload,
    MessageMediaPendingV1,
    MessageOutboundQueuedPayload,
    MessageOutboundQueuedV1,
    MessageStatusUpdatedPayload,
    MessageStatusUpdatedV1,
    MessageSummary,
    ReplyGeneratedPayload,
    ReplyGeneratedV1,
    ReplyPreparingPayload,
    ReplyPreparingV1,
    ReplySource,
    TenantCreatedPayload,
    TenantCreatedV1,
    UserCreatedV1,
    UserPayload,
    UserRemovedPayload,
    UserRemovedV1,
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
DOCUMENT = uuid.UUID("a0a0a0a0-a0a0-4a0a-8a0a-a0a0a0a0a0a0")
CONVERSATION = uuid.UUID("99999999-9999-4999-8999-999999999999")
CHANNEL = uuid.UUID("99999999-9999-4999-8999-999999999998")
CONTACT = ContactSummary(
    id=uuid.UUID("99999999-9999-4999-8999-999999999997"), wa_id="16505551234", name="Zoë"
)

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
            conversation_id=CONVERSATION,
            channel_id=CHANNEL,
            phone_number_id="106540352242922",
            contact=CONTACT,
            message=MessageSummary(
                id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
                conversation_id=CONVERSATION,
                wamid="wamid.IN",
                direction="inbound",
                author="customer",
                type="text",
                text="Hello",
                context={"from": "15550783881", "id": "wamid.OUT"},
                status="received",
                created_at=AT,
            ),
            conversation_status="open",
            ai_enabled=True,
            history=[
                HistoryItem(
                    direction="outbound", author="ai", type="text", text="Hi!", created_at=AT
                )
            ],
        ),
        **COMMON,
    ),
    ConversationUpdatedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999991"),
        tenant_id=TENANT,
        payload=ConversationSummary(
            id=CONVERSATION,
            channel_id=CHANNEL,
            contact=CONTACT,
            status="open",
            ai_enabled=False,
            last_message_at=AT,
            last_message_preview="Hello",
            unread_count=2,
            assignee_id=uuid.UUID("99999999-9999-4999-8999-999999999979"),
            csat=CSATRating(score=3, label="Great", responded_at=AT),
            version=7,
        ),
        **COMMON,
    ),
    AutoReplyV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999961"),
        tenant_id=TENANT,
        payload=AutoReplyPayload(
            reply_id=uuid.UUID("99999999-9999-4999-8999-999999999962"),
            conversation_id=CONVERSATION,
            in_reply_to_message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            in_reply_to_wamid="wamid.IN",
            text="We are closed now: we open at 9:00 and will answer you then.",
            period_start=AT,
        ),
        **COMMON,
    ),
    CSATRequestedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999963"),
        tenant_id=TENANT,
        payload=CSATRequestedPayload(
            request_id=uuid.UUID("99999999-9999-4999-8999-999999999964"),
            conversation_id=CONVERSATION,
            question="How would you rate our support?",
            template_name="csat_survey",
        ),
        **COMMON,
    ),
    ConversationCSATReceivedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999965"),
        tenant_id=TENANT,
        payload=ConversationCSATReceivedPayload(
            request_id=uuid.UUID("99999999-9999-4999-8999-999999999964"),
            conversation_id=CONVERSATION,
            message_id=uuid.UUID("99999999-9999-4999-8999-999999999966"),
            score=2,
            assignee_id=uuid.UUID("99999999-9999-4999-8999-999999999979"),
            ai_resolved=False,
            responded_at=AT,
        ),
        **COMMON,
    ),
    MessageStatusUpdatedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999992"),
        tenant_id=TENANT,
        payload=MessageStatusUpdatedPayload(
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            conversation_id=CONVERSATION,
            wamid="wamid.OUT",
            status="failed",
            error="131026: Message undeliverable",
            error_code=131026,
        ),
        **COMMON,
    ),
    MessageOutboundQueuedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999993"),
        tenant_id=TENANT,
        payload=MessageOutboundQueuedPayload(
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444")
        ),
        **COMMON,
    ),
    MessageMediaPendingV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999994"),
        tenant_id=TENANT,
        payload=MessageMediaPendingPayload(
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444")
        ),
        **COMMON,
    ),
    TenantCreatedV1(
        event_id=uuid.UUID("55555555-5555-4555-8555-555555555555"),
        tenant_id=TENANT,
        payload=TenantCreatedPayload(tenant_id=TENANT, name="Padaria Lúcia"),
        **COMMON,
    ),
    UserCreatedV1(
        event_id=uuid.UUID("66666666-6666-4666-8666-666666666666"),
        tenant_id=TENANT,
        payload=UserPayload(
            user_id=uuid.UUID("77777777-7777-4777-8777-777777777777"),
            tenant_id=TENANT,
            email="lucia@padaria.example",
            name="Lúcia",
            role="owner",
        ),
        **COMMON,
    ),
    UserRemovedV1(
        event_id=uuid.UUID("88888888-8888-4888-8888-888888888888"),
        tenant_id=TENANT,
        payload=UserRemovedPayload(
            user_id=uuid.UUID("77777777-7777-4777-8777-777777777777"), tenant_id=TENANT
        ),
        **COMMON,
    ),
    # knowledge: document.*
    DocumentUploadedV1(
        event_id=uuid.UUID("a1a1a1a1-a1a1-4a1a-8a1a-a1a1a1a1a1a1"),
        tenant_id=TENANT,
        payload=DocumentUploadedPayload(
            document_id=DOCUMENT,
            filename="returns-policy.pdf",
            content_type="application/pdf",
            size_bytes=48213,
            sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        **COMMON,
    ),
    DocumentIndexedV1(
        event_id=uuid.UUID("a2a2a2a2-a2a2-4a2a-8a2a-a2a2a2a2a2a2"),
        tenant_id=TENANT,
        payload=DocumentIndexedPayload(
            document_id=DOCUMENT, filename="returns-policy.pdf", chunk_count=12, language="eng"
        ),
        **COMMON,
    ),
    DocumentFailedV1(
        event_id=uuid.UUID("a3a3a3a3-a3a3-4a3a-8a3a-a3a3a3a3a3a3"),
        tenant_id=TENANT,
        payload=DocumentFailedPayload(
            document_id=DOCUMENT,
            filename="returns-policy.pdf",
            error="The PDF is password-protected: upload a copy without a password.",
        ),
        **COMMON,
    ),
    ReplyGeneratedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999999"),
        tenant_id=TENANT,
        payload=ReplyGeneratedPayload(
            reply_id=uuid.UUID("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"),
            conversation_id=uuid.UUID("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"),
            in_reply_to_message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            in_reply_to_wamid="wamid.IN",
            parts=["We deliver on *Sundays* from 9 to 13h."],
            kind="answer",
            sources=[
                ReplySource(
                    document_id=uuid.UUID("cccccccc-cccc-4ccc-8ccc-cccccccccccc"),
                    chunk_id=uuid.UUID("dddddddd-dddd-4ddd-8ddd-dddddddddddd"),
                    filename="delivery-policy.pdf",
                    page=3,
                    section="Delivery",
                    score=0.82,
                )
            ],
            model="anthropic/claude-3.5-haiku",
            tokens_in=812,
            tokens_out=41,
            latency_ms=930,
            cost_usd=0.000814,
        ),
        **COMMON,
    ),
    ReplyPreparingV1(
        event_id=uuid.UUID("ffffffff-ffff-4fff-8fff-ffffffffffff"),
        tenant_id=TENANT,
        payload=ReplyPreparingPayload(
            conversation_id=uuid.UUID("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"),
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            wamid="wamid.IN",
        ),
        **COMMON,
    ),
    HandoffRequestedV1(
        event_id=uuid.UUID("eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"),
        tenant_id=TENANT,
        payload=HandoffRequestedPayload(
            conversation_id=uuid.UUID("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"),
            message_id=uuid.UUID("44444444-4444-4444-8444-444444444444"),
            reason="the customer asked for a person ('human')",
        ),
        **COMMON,
    ),
    ConversationNoteCreatedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999981"),
        tenant_id=TENANT,
        payload=ConversationNoteCreatedPayload(
            id=uuid.UUID("99999999-9999-4999-8999-999999999980"),
            conversation_id=CONVERSATION,
            author_id=uuid.UUID("99999999-9999-4999-8999-999999999979"),
            text="Customer is a VIP — offer free shipping",
            created_at=AT,
        ),
        **COMMON,
    ),
    ContactErasedV1(
        event_id=uuid.UUID("99999999-9999-4999-8999-999999999978"),
        tenant_id=TENANT,
        payload=ContactErasedPayload(
            contact_id=CONTACT.id,
            conversation_ids=[CONVERSATION],
            message_ids=[uuid.UUID("99999999-9999-4999-8999-999999999977")],
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


def test_a_conversation_update_from_before_version_still_reads() -> None:
    # `version` was added to conversation.updated.v1 as an optional field: a producer that
    # predates it sends none, which reads as null (the dashboard then applies the update).
    wire = json.loads((GOLDEN / "conversation.updated.v1.json").read_text())
    del wire["payload"]["version"]
    event = parse_event(json.dumps(wire))
    assert isinstance(event, ConversationUpdatedV1)
    assert event.payload.version is None


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
