"""The webhook parser under any JSON (hypothesis): a body is a notification (its events, each
one publishable) or it is not (ValueError → 400). Nothing else, so never a 500."""

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from common.events import WhatsAppMessageReceivedV1, WhatsAppWebhookUnhandledV1
from gateway.service import KNOWN_MESSAGE_TYPES, parse_notification
from wa_testing import gateway_events as stand_in
from wa_testing.fakes import inbound_examples
from wa_testing.plugin import messages_change, notification, text_message

DEPTH = 64
PNID = "106540352242922"

# Any JSON value, surrogates and NUL included (JSON can escape them).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
timestamps = st.one_of(
    json_values,
    st.integers().map(str),
    st.sampled_from(["99999999999999999999", "-99999999999999", "1e400", "\uff11\uff12\uff13"]),
)


def _message(timestamp: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {"from": "111", "id": "wamid.ODD", "type": "text", "timestamp": timestamp} | extra


@st.composite
def odd_notifications(draw: st.DrawFn) -> dict[str, Any]:
    """A notification with a good message and, around it, odd values where Meta puts data."""
    odd_item = draw(
        st.one_of(
            json_values,
            st.builds(_message, timestamps, st.dictionaries(st.text(), json_values)),
        )
    )
    contacts = draw(
        st.lists(
            st.one_of(
                json_values,
                st.fixed_dictionaries({"wa_id": st.just("111"), "profile": json_values}),
            ),
            max_size=3,
        )
    )
    statuses = draw(
        st.lists(
            st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {"id": json_values, "status": json_values, "timestamp": timestamps}
                ),
            ),
            max_size=3,
        )
    )
    change = messages_change(
        PNID,
        contacts=contacts,
        messages=[odd_item, text_message("wamid.GOOD", "111", draw(st.text()))],
        statuses=statuses,
    )
    change["value"]["errors"] = draw(json_values)
    return notification(("WABA1", [change]))


def _publishable(events: list[Any]) -> None:
    for event in events:  # what the bus does with each: JSON, UTF-8
        event.model_dump_json().encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_is_events_or_a_clear_refusal(value: Any) -> None:
    raw = json.dumps(value).encode()
    try:
        required, other = parse_notification(raw, DEPTH)
    except ValueError:
        return  # 400
    _publishable(required + other)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_notifications())
def test_an_odd_item_never_costs_the_good_message(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()  # ASCII: any lone surrogate travels as `\ud800`
    required, other = parse_notification(raw, DEPTH)
    _publishable(required + other)
    good = [e for e in required if isinstance(e, WhatsAppMessageReceivedV1)]
    assert "wamid.GOOD" in [e.payload.wamid for e in good]


def test_a_timestamp_beyond_range_and_a_non_object_profile() -> None:
    """The two items of issue 12, finding 15 that were a 500 for the whole batch."""
    change = messages_change(
        PNID,
        contacts=[{"wa_id": "222", "profile": "Zoë"}],
        messages=[
            text_message("wamid.FAR", "111", "far", timestamp=99999999999999999999),
            text_message("wamid.PROFILE", "222", "odd profile"),
            text_message("wamid.GOOD", "111", "fine"),
        ],
        statuses=[{"id": "wamid.S", "status": "read", "timestamp": "99999999999999999999"}],
    )
    raw = json.dumps(notification(("WABA1", [change]))).encode()
    required, other = parse_notification(raw, DEPTH)
    assert [e.payload.wamid for e in required] == ["wamid.PROFILE", "wamid.GOOD"]
    assert required[0].payload.contact is not None and required[0].payload.contact.name is None
    reasons = [e.payload.reason for e in other if isinstance(e, WhatsAppWebhookUnhandledV1)]
    assert reasons == ["a timestamp out of range", "a timestamp out of range"]


def test_a_lone_surrogate_is_replaced_not_fatal() -> None:
    raw = json.dumps(
        notification(
            (
                "WABA1",
                [messages_change(PNID, messages=[text_message("wamid.\ud800", "1", "a\udfff")])],
            )
        )
    ).encode()
    [event], _ = parse_notification(raw, DEPTH)
    assert event.payload.wamid == "wamid.\ufffd"
    assert event.payload.message["text"]["body"] == "a\ufffd"
    _publishable([event])


# Backslashes, surrogate halves and the text of their escapes side by side: a lone surrogate
# is found however it is escaped, and an emoji's pair is left as it is.
tricky_text = st.lists(
    st.sampled_from(["\\", "u", "ud83d", "\ud83d", "\udc4b", "\ud800", "\udfff", "👋", "a"]),
    max_size=8,
).map("".join)


def _one_message(body: str) -> bytes:
    message = text_message("wamid.T", "1", body)
    return json.dumps(notification(("WABA1", [messages_change(PNID, messages=[message])]))).encode()


@settings(max_examples=300, deadline=None)
@given(tricky_text)
@example("\\ud83d\udc4b")  # text `\ud83d`, then a lone low half: not a pair
@example("\\\ud83d\udc4b")  # an escaped backslash, then an emoji
def test_only_unstorable_characters_are_replaced(text: str) -> None:
    raw = _one_message(text)
    [event], _ = parse_notification(raw, DEPTH)
    loaded = json.loads(json.dumps(text))  # a pair of halves becomes one character here
    expected = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in loaded)
    assert event.payload.message["text"]["body"] == expected
    _publishable([event])


def test_an_upper_case_escape_of_a_lone_surrogate_is_replaced() -> None:
    raw = _one_message("x")
    raw = raw.replace(b'"body": "x"', b'"body": "\\uD83D\\uDC4B \\uDC4B"')
    [event], _ = parse_notification(raw, DEPTH)
    assert event.payload.message["text"]["body"] == "\U0001f44b \ufffd"


# --- the stand-in other suites use (wa_testing.gateway_events) ------------------------------
# ingest's suite publishes what wa_testing says the gateway publishes, without running the
# gateway: these pin that stand-in to the real split, so the two cannot drift apart.


def _wire(events: list[Any]) -> list[dict[str, Any]]:
    # occurred_at and correlation_id are the moment's and the request's, not the split's.
    return [e.model_dump(mode="json", exclude={"occurred_at", "correlation_id"}) for e in events]


def test_the_stand_in_knows_the_gateway_s_message_types() -> None:
    assert stand_in.KNOWN_MESSAGE_TYPES == KNOWN_MESSAGE_TYPES


def test_the_stand_in_publishes_what_the_gateway_publishes() -> None:
    examples = list(inbound_examples("351910000000", prefix="wamid.PIN").values())
    status = {"id": "wamid.OUT", "status": "read", "timestamp": "1767268801", "recipient_id": "9"}
    body = notification(
        (
            "WABA1",
            [
                messages_change(
                    PNID,
                    # In another order than the messages: matched by wa_id.
                    contacts=[
                        {"profile": {"name": "Bob"}, "wa_id": "222"},
                        {"profile": {"name": "Inês"}, "wa_id": "351910000000"},
                    ],
                    messages=[*examples, text_message("wamid.BOB", "222", "hi")],
                    statuses=[status],
                ),
                {"field": "message_template_status_update", "value": {"event": "PAUSED"}},
            ],
        ),
        (
            "WABA2",
            [
                messages_change(PNID, messages=[text_message("wamid.X", "7", "no contact")])
                | {"value": {"errors": [{"code": 131051}], "metadata": {}}},
                messages_change("2", messages=[text_message("wamid.Y", "8", "y")]),
            ],
        ),
    )
    required, other = stand_in.gateway_events(body)
    real_required, real_other = parse_notification(json.dumps(body).encode(), DEPTH)
    assert len(required) == len(examples) + 3 and len(other) == 3
    assert _wire(required) == _wire(real_required)
    assert _wire(other) == _wire(real_other)
