"""`/api/business-hours` and `/api/csat` over HTTP, on real Postgres."""

import uuid
from typing import Any

import httpx
import pytest

from responder.main import create_app
from responder.settings import ResponderSettings
from wa_testing.plugin import TestKeyPair, bearer, running_app

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
async def client(responder_settings: ResponderSettings) -> Any:
    async with running_app(create_app(responder_settings)) as c:
        yield c


def owner(keys: TestKeyPair, tenant: uuid.UUID | None = None) -> dict[str, str]:
    return bearer(keys.token(tenant_id=tenant or uuid.uuid4(), role="owner"))


async def test_business_hours_default_to_always_open(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    r = await client.get("/api/business-hours", headers=owner(test_keys))
    assert r.status_code == 200
    assert r.json() == {
        "timezone": "UTC",
        "weekly": {day: [["00:00", "24:00"]] for day in DAYS},
        "holidays": [],
        "auto_reply": None,
        "outside_hours": "answer",
    }


async def test_business_hours_are_saved_per_tenant_and_in_part(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    body = {
        "timezone": "Europe/Lisbon",
        "weekly": {"mon": [["14:00", "18:00"], ["09:00", "12:30"]], "sat": [["10:00", "24:00"]]},
        "holidays": ["2026-12-25", "2026-12-08", "2026-12-25"],
        "auto_reply": "  We are closed; we answer from 9:00.  ",
        "outside_hours": "handoff",
    }
    r = await client.put("/api/business-hours", json=body, headers=owner(test_keys, tenant))
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["timezone"] == "Europe/Lisbon"
    assert saved["weekly"]["mon"] == [["09:00", "12:30"], ["14:00", "18:00"]]  # sorted
    assert saved["weekly"]["tue"] == []  # a day left out is closed
    assert saved["holidays"] == ["2026-12-08", "2026-12-25"]
    assert saved["auto_reply"] == "We are closed; we answer from 9:00."
    # A part: the rest stays.
    r = await client.put(
        "/api/business-hours", json={"outside_hours": "answer"}, headers=owner(test_keys, tenant)
    )
    assert r.json() == {**saved, "outside_hours": "answer"}
    again = await client.get("/api/business-hours", headers=owner(test_keys, tenant))
    assert again.json() == {**saved, "outside_hours": "answer"}
    # Another business still has the defaults.
    other = await client.get("/api/business-hours", headers=owner(test_keys))
    assert other.json()["timezone"] == "UTC"
    # auto_reply: null clears it.
    r = await client.put(
        "/api/business-hours", json={"auto_reply": None}, headers=owner(test_keys, tenant)
    )
    assert r.json()["auto_reply"] is None


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"weekly": {"monday": [["09:00", "17:00"]]}}, "unknown day 'monday'"),
        ({"weekly": {"mon": [["9:00", "17:00"]]}}, "weekly.mon"),
        ({"weekly": {"mon": [["09:00", "25:00"]]}}, "weekly.mon"),
        ({"weekly": {"mon": [["17:00", "09:00"]]}}, "must start before it ends"),
        ({"weekly": {"mon": [["24:00", "24:00"]]}}, "weekly.mon"),
        ({"weekly": {"tue": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "overlap"),
        ({"holidays": ["2026-02-30"]}, "holidays"),
        ({"holidays": ["tomorrow"]}, "holidays"),
        ({"outside_hours": None}, "outside_hours: may not be null"),
    ],
)
async def test_bad_business_hours_are_422_naming_what_is_wrong(
    client: httpx.AsyncClient, test_keys: TestKeyPair, body: dict[str, Any], detail: str
) -> None:
    r = await client.put("/api/business-hours", json=body, headers=owner(test_keys))
    assert r.status_code == 422, r.text
    assert detail in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auto_reply": "x" * 1025}, "auto_reply"),
        ({"outside_hours": "ignore"}, "outside_hours"),
        ({"weekly": {"mon": [["09:00"]]}}, "weekly"),
        ({"open": True}, "open"),
    ],
)
async def test_malformed_business_hours_are_422_naming_the_field(
    client: httpx.AsyncClient, test_keys: TestKeyPair, body: dict[str, Any], field: str
) -> None:
    r = await client.put("/api/business-hours", json=body, headers=owner(test_keys))
    assert r.status_code == 422
    assert field in {str(p) for e in r.json()["detail"] for p in e["loc"]}


async def test_agents_read_but_cannot_change_hours_or_csat(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    agent = bearer(test_keys.token(role="agent"))
    assert (await client.get("/api/business-hours", headers=agent)).status_code == 200
    assert (await client.get("/api/csat", headers=agent)).status_code == 200
    r = await client.put("/api/business-hours", json={"timezone": "UTC"}, headers=agent)
    assert r.status_code == 403
    assert (await client.put("/api/csat", json={"enabled": True}, headers=agent)).status_code == 403


async def test_csat_settings_default_off_and_are_validated(
    client: httpx.AsyncClient, test_keys: TestKeyPair
) -> None:
    tenant = uuid.uuid4()
    headers = owner(test_keys, tenant)
    r = await client.get("/api/csat", headers=headers)
    assert r.json() == {
        "enabled": False,
        "question": "How would you rate our support?",
        "template_name": None,
    }
    r = await client.put(
        "/api/csat",
        json={"enabled": True, "question": "Rate us?", "template_name": "csat_survey"},
        headers=headers,
    )
    assert r.status_code == 200
    assert r.json() == {"enabled": True, "question": "Rate us?", "template_name": "csat_survey"}
    assert (await client.get("/api/csat", headers=headers)).json()["template_name"] == "csat_survey"
    for bad in ({"question": ""}, {"question": "q" * 1025}, {"template_name": "Not A Name!"}):
        r = await client.put("/api/csat", json=bad, headers=headers)
        assert r.status_code == 422, bad
    r = await client.put("/api/csat", json={"enabled": None}, headers=headers)
    assert r.status_code == 422 and r.json() == {"detail": "enabled: may not be null"}
    r = await client.put("/api/csat", json={"template_name": None}, headers=headers)
    assert r.json()["template_name"] is None  # null: no template
