"""Typed subscriptions: event types come from the models, each event goes to its model's
handler, and a type the subscription does not handle is dead-lettered (PermanentError)."""

import uuid

import pytest

from common.bus import PermanentError, Subscription
from common.events import (
    EVENT_MODELS,
    TenantCreatedPayload,
    TenantCreatedV1,
    UserCreatedV1,
    UserPayload,
    UserRemovedPayload,
    UserRemovedV1,
)


def test_every_model_carries_its_event_type() -> None:
    for model in EVENT_MODELS:
        assert model.model_fields["event_type"].default == model.EVENT_TYPE
        assert model.model_construct().event_type == model.EVENT_TYPE


async def test_events_go_to_the_handler_of_their_model() -> None:
    seen: list[tuple[str, object]] = []

    async def on_created(event: UserCreatedV1) -> None:
        seen.append(("created", event))

    async def on_removed(event: UserRemovedV1) -> None:
        seen.append(("removed", event))

    sub = Subscription.of(
        "c.typed", {UserCreatedV1: on_created, UserRemovedV1: on_removed}, prefetch=3
    )
    assert sub.consumer == "c.typed"
    assert sub.event_types == ("user.created.v1", "user.removed.v1")
    assert sub.prefetch == 3

    tenant, user = uuid.uuid4(), uuid.uuid4()
    removed = UserRemovedV1(payload=UserRemovedPayload(user_id=user, tenant_id=tenant))
    created = UserCreatedV1(
        payload=UserPayload(user_id=user, tenant_id=tenant, email="a@b.c", name="A", role="agent")
    )
    await sub.handler(removed)
    await sub.handler(created)
    assert seen == [("removed", removed), ("created", created)]

    stray = TenantCreatedV1(payload=TenantCreatedPayload(tenant_id=tenant, name="T"))
    with pytest.raises(PermanentError, match=r"c\.typed does not handle tenant\.created\.v1"):
        await sub.handler(stray)


def test_a_subscription_handles_at_least_one_model() -> None:
    with pytest.raises(ValueError):
        Subscription.of("c.empty", {})
