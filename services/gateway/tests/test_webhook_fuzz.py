"""Any JSON shape, signed, through the real webhook route over HTTP (hypothesis): the gateway
answers 200 (published) or 400 (not a notification), never a 500, and Meta's retries of a
400 cannot be what loses a message. test_parsing.py holds the parser-level properties."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from common.bus import Bus, Subscription
from gateway.main import create_app
from gateway.settings import GatewaySettings
from wa_testing.fakes import serve_app
from wa_testing.plugin import TestKeyPair, eventually, meta_signature, service_settings

pytestmark = pytest.mark.fuzz

APP_SECRET = "fuzz-app-secret"
WEBHOOK_EVENTS = (
    "whatsapp.message.received.v1",
    "whatsapp.status.updated.v1",
    "whatsapp.webhook.unhandled.v1",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


def shaped(fields: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Meta's object with these fields (each possibly odd), or any JSON in its place."""
    return json_values | st.fixed_dictionaries({}, optional=fields)


message = shaped(
    {
        "from": json_values | st.just("16505551234"),
        "id": json_values | st.just("wamid.FUZZ"),
        "timestamp": json_values | st.integers().map(str),
        "type": st.sampled_from(["text", "image", "reaction", "unsupported"]) | json_values,
        "text": shaped({"body": json_values}),
        "image": shaped({"id": json_values, "mime_type": json_values}),
        "context": shaped({"id": json_values}),
    }
)
value = shaped(
    {
        "messaging_product": st.just("whatsapp") | json_values,
        "metadata": shaped({"phone_number_id": json_values | st.just("106540352242922")}),
        "contacts": st.lists(shaped({"wa_id": json_values, "profile": json_values}), max_size=2),
        "messages": st.lists(message, max_size=3),
        "statuses": st.lists(shaped({"id": json_values, "status": json_values}), max_size=2),
        "errors": json_values,
    }
)
change = shaped(
    {"field": st.sampled_from(["messages", "account_update"]) | json_values, "value": value}
)
notifications = st.fixed_dictionaries(
    {"object": st.just("whatsapp_business_account") | json_values},
    optional={
        "entry": st.lists(
            shaped({"id": json_values, "changes": st.lists(change, max_size=2)}), max_size=2
        )
    },
)
# Meta's whole structure, odd only at the leaves: these reach the publishing.
well_formed = st.fixed_dictionaries(
    {
        "object": st.just("whatsapp_business_account"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.just("WABA1") | json_values,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.just("messages"),
                                "value": st.fixed_dictionaries(
                                    {
                                        "messaging_product": st.just("whatsapp"),
                                        "metadata": st.fixed_dictionaries(
                                            {"phone_number_id": st.just("106540352242922")}
                                        ),
                                        "messages": st.lists(message, min_size=1, max_size=3),
                                    },
                                    optional={"contacts": json_values, "statuses": json_values},
                                ),
                            }
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                }
            ),
            min_size=1,
            max_size=2,
        ),
    }
)
bodies = (
    well_formed.map(lambda n: json.dumps(n).encode())
    | notifications.map(lambda n: json.dumps(n).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)  # not JSON, or not UTF-8
)


def post_everything(url: str, seen: dict[int, int]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:

        @settings(
            max_examples=200,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(bodies)
        def post(body: bytes) -> None:
            r = client.post(
                "/api/webhook/whatsapp",
                content=body,
                headers={
                    "X-Hub-Signature-256": meta_signature(body, APP_SECRET),
                    "Content-Type": "application/json",
                },
            )
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code in (200, 400), f"{r.status_code} {r.text} for {body!r}"
            assert r.json()["events" if r.status_code == 200 else "detail"] is not None

        post()


async def test_any_json_through_the_route_is_200_or_400(
    database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair, bus: Bus
) -> None:
    received: list[Any] = []

    async def handler(event: Any) -> None:
        received.append(event)

    # A consumer is bound: messages and statuses have somewhere to go (else a 503).
    await bus.subscribe(Subscription("gateway-fuzz.listener", WEBHOOK_EVENTS, handler))
    settings_ = service_settings(
        GatewaySettings,
        database_url=database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        whatsapp_app_secret=APP_SECRET,
    )
    seen: dict[int, int] = {}
    async with serve_app(create_app(settings_)) as url:
        await asyncio.to_thread(post_everything, url, seen)
    published = await eventually(lambda: _count(received), timeout=5)
    print(f"webhook fuzz: statuses {sorted(seen.items())}, {published} events published")
    assert seen.get(200) and seen.get(400), seen  # both kinds were reached


async def _count(received: list[Any]) -> int:
    return len(received)
