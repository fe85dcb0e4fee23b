"""Connecting a number: a live channel only once Meta confirms the token's claim (the token
reads the number, the number is in the WABA); a sandbox gets an id no real number has."""

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from common.db import Database
from common.migrations import upgrade
from ingest.main import SERVICE_DIR
from wa_testing.plugin import _admin, free_port, text_message


def meta_id() -> str:
    return str(uuid.uuid4().int)[:15]


async def connect(platform: Any, headers: dict[str, str], **body: Any) -> Any:
    return await platform.ingest.post("/api/channels/whatsapp", json=body, headers=headers)


async def stored(platform: Any, phone_number_id: str) -> list[Any]:
    return await platform.sql(
        "select tenant_id, waba_id, verified_at, display_phone_number, deleted_at"
        " from ingest.channels where phone_number_id = :p",
        p=phone_number_id,
    )


async def test_a_live_channel_is_stored_with_its_waba_once_meta_confirms_the_number(
    platform: Any,
) -> None:
    owner = platform.tenant()
    number = platform.graph.add_number(
        meta_id(), waba_id=meta_id(), token="EAAG-bakery", display_phone_number="+351 912 345 678"
    )
    r = await connect(
        platform,
        owner,
        phone_number_id=number.phone_number_id,
        waba_id=number.waba_id,
        access_token="EAAG-bakery",
        display_phone_number="typed by hand",
    )
    assert r.status_code == 201, r.text
    channel = r.json()
    assert channel["mode"] == "live" and channel["phone_number_id"] == number.phone_number_id
    # Meta's display number, not the one typed in.
    assert channel["display_phone_number"] == "+351 912 345 678"
    [row] = await stored(platform, number.phone_number_id)
    assert row.waba_id == number.waba_id and row.verified_at is not None
    # Both of Meta's answers were asked for, with the tenant's token.
    paths = [(q.path, q.authorization) for q in platform.graph.number_reads()]
    assert paths == [
        (f"/{number.phone_number_id}", "Bearer EAAG-bakery"),
        (f"/{number.waba_id}/phone_numbers", "Bearer EAAG-bakery"),
    ]
    # And it routes: a customer's message reaches this business.
    await platform.inbound(
        number.phone_number_id,
        [
            text_message(
                f"wamid.{uuid.uuid4().hex}", "16505551234", "hi", timestamp=int(time.time())
            )
        ],
    )
    [conversation] = await platform.wait_conversation(owner)
    assert conversation["channel_id"] == channel["id"]


async def test_an_account_with_many_numbers_is_read_page_by_page(platform: Any) -> None:
    waba = meta_id()
    numbers = [platform.graph.add_number(meta_id(), waba_id=waba) for _ in range(120)]
    last = numbers[-1]
    r = await connect(
        platform,
        platform.tenant(),
        phone_number_id=last.phone_number_id,
        waba_id=waba,
        access_token=platform.graph.token,
    )
    assert r.status_code == 201, r.text
    pages = [q for q in platform.graph.number_reads() if q.path.endswith("/phone_numbers")]
    assert len(pages) == 2  # 100 a page: the number is on the second


async def test_a_token_meta_refuses_for_the_number_is_a_422_and_nothing_is_stored(
    platform: Any,
) -> None:
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-owner")
    # Another business's token (Meta knows it, it may not read this account), then a made-up one.
    platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-squatter")
    for token, code in (("EAAG-squatter", "100"), ("EAAG-made-up", "190")):
        r = await connect(
            platform,
            platform.tenant(),
            phone_number_id=number.phone_number_id,
            waba_id=number.waba_id,
            access_token=token,
        )
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "cannot read phone number" in detail and code in detail, detail
    assert await stored(platform, number.phone_number_id) == []


@pytest.mark.parametrize("token", ["EAAG-Zoë", "EAAG with space", "EAAG\u200b"])
async def test_a_token_that_cannot_be_a_header_is_a_422_and_meta_is_not_asked(
    platform: Any, token: str
) -> None:
    """Non-ASCII in the token was a 500 (the OpenAPI fuzz found it): its header to Meta
    could not be encoded."""
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-owner")
    r = await connect(
        platform,
        platform.tenant(),
        phone_number_id=number.phone_number_id,
        waba_id=number.waba_id,
        access_token=token,
    )
    assert r.status_code == 422, r.text
    assert "access_token" in {str(p) for e in r.json()["detail"] for p in e["loc"]}
    assert platform.graph.requests == []
    assert await stored(platform, number.phone_number_id) == []


async def test_a_number_outside_the_claimed_waba_is_a_422_and_nothing_is_stored(
    platform: Any,
) -> None:
    token = "EAAG-two-accounts"
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token=token)
    other_account = platform.graph.add_number(meta_id(), waba_id=meta_id(), token=token).waba_id
    owner = platform.tenant()
    r = await connect(
        platform,
        owner,
        phone_number_id=number.phone_number_id,
        waba_id=other_account,
        access_token=token,
    )
    assert r.status_code == 422, r.text
    assert "is not a number of WhatsApp Business Account" in r.json()["detail"]
    # A WABA the token cannot read at all.
    r = await connect(
        platform,
        owner,
        phone_number_id=number.phone_number_id,
        waba_id=meta_id(),
        access_token=token,
    )
    assert r.status_code == 422, r.text
    assert "WhatsApp Business Account" in r.json()["detail"]
    # A live channel cannot take a sandbox-shaped id.
    r = await connect(
        platform,
        owner,
        phone_number_id="sandbox-abc",
        waba_id=number.waba_id,
        access_token=token,
    )
    assert r.status_code == 422, r.text
    assert await stored(platform, number.phone_number_id) == []
    assert await stored(platform, "sandbox-abc") == []


async def test_meta_unavailable_is_a_503_nothing_is_stored_and_a_retry_connects(
    platform: Any, platform_with: Any
) -> None:
    owner = platform.tenant()
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-shop")
    body = {
        "phone_number_id": number.phone_number_id,
        "waba_id": number.waba_id,
        "access_token": "EAAG-shop",
    }
    platform.graph.fail_next_number_read(None, http_status=503)
    r = await connect(platform, owner, **body)
    assert r.status_code == 503, r.text
    assert "could not verify" in r.json()["detail"]
    # Meta's rate limit (a retryable code) is the same: try again later.
    platform.graph.fail_next_number_read(80007)
    r = await connect(platform, owner, **body)
    assert r.status_code == 503, r.text
    assert "80007" in r.json()["detail"]
    assert await stored(platform, number.phone_number_id) == []

    async with platform_with(whatsapp_graph_url=f"http://127.0.0.1:{free_port()}") as down:
        r = await connect(down, owner, **body)
        assert r.status_code == 503, r.text
        assert "unreachable" in r.json()["detail"]
    assert await stored(platform, number.phone_number_id) == []

    r = await connect(platform, owner, **body)
    assert r.status_code == 201, r.text


async def test_a_sandbox_gets_an_id_of_ours_and_cannot_hold_a_real_number(
    platform: Any,
) -> None:
    squatter = platform.tenant()
    real = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-real-owner")
    r = await connect(
        platform,
        squatter,
        phone_number_id=real.phone_number_id,
        display_phone_number="+1 555 0100",
        waba_id=real.waba_id,
    )
    assert r.status_code == 201, r.text
    sandbox = r.json()
    assert sandbox["mode"] == "sandbox"
    assert sandbox["phone_number_id"].startswith("sandbox-")
    assert sandbox["phone_number_id"] != real.phone_number_id
    assert sandbox["display_phone_number"] == "+1 555 0100"
    [row] = await stored(platform, sandbox["phone_number_id"])
    assert row.waba_id is None and row.verified_at is None
    # No phone_number_id at all is fine too; each sandbox gets its own.
    r = await connect(platform, squatter)
    assert r.status_code == 201, r.text
    assert r.json()["phone_number_id"] not in (sandbox["phone_number_id"], real.phone_number_id)
    assert platform.graph.requests == []  # a sandbox never asks Meta

    # Its simulated customers route to it by that id.
    r = await platform.ingest.post(
        f"/api/channels/{sandbox['id']}/simulate",
        json={"from": "15551234567", "text": "hello sandbox"},
        headers=squatter,
    )
    assert r.status_code == 202, r.text
    conversations = await platform.wait_conversation(squatter)
    [conversation] = [c for c in conversations if c["channel_id"] == sandbox["id"]]
    [message] = await platform.wait_messages(squatter, conversation["id"], 1)
    assert message["text"] == "hello sandbox"

    # The real owner connects the number, and Meta's messages for it reach the owner only.
    owner = platform.tenant()
    r = await connect(
        platform,
        owner,
        phone_number_id=real.phone_number_id,
        waba_id=real.waba_id,
        access_token="EAAG-real-owner",
    )
    assert r.status_code == 201, r.text
    await platform.inbound(
        real.phone_number_id,
        [
            text_message(
                f"wamid.{uuid.uuid4().hex}", "16505550000", "hi", timestamp=int(time.time())
            )
        ],
    )
    [theirs] = await platform.wait_conversation(owner)
    assert theirs["channel_id"] == r.json()["id"]
    assert len(await platform.conversations(squatter)) == 1


async def test_a_second_tenant_cannot_claim_a_connected_number(platform: Any) -> None:
    first = platform.tenant()
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-first")
    body = {"phone_number_id": number.phone_number_id, "waba_id": number.waba_id}
    r = await connect(platform, first, **body, access_token="EAAG-first")
    assert r.status_code == 201, r.text
    second = platform.tenant()
    # Without a token that reads the number, the claim fails before anything else: the
    # caller does not even learn that the number is connected.
    r = await connect(platform, second, **body, access_token="EAAG-guess")
    assert r.status_code == 422, r.text
    # With one (the number's own business, signed up twice), the number stays where it is.
    platform.graph.grants.setdefault("EAAG-second", set()).add(number.waba_id)
    r = await connect(platform, second, **body, access_token="EAAG-second")
    assert r.status_code == 409, r.text
    assert "already connected" in r.json()["detail"]
    assert len(await stored(platform, number.phone_number_id)) == 1
    listed = (await platform.ingest.get("/api/channels", headers=second)).json()["items"]
    assert listed == []
    listed = (await platform.ingest.get("/api/channels", headers=first)).json()["items"]
    assert [c["phone_number_id"] for c in listed] == [number.phone_number_id]


async def test_the_migration_frees_real_numbers_held_by_sandbox_channels(
    server_database_url: str,
) -> None:
    """Before 0007 a sandbox channel could hold any id: the connected ones get one of ours,
    live and deleted channels and dashboard-made `sandbox-…` ids are left alone."""
    name = f"wa_test_mig_{uuid.uuid4().hex[:10]}"
    await _admin(server_database_url, f'create database "{name}"')
    url = make_url(server_database_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url, pool_size=1)
    try:
        await asyncio.to_thread(upgrade, SERVICE_DIR, url, "0006")
        rows = {
            "squatted": ("106540352242922", None, None),
            "made-by-dashboard": ("sandbox-0a1b2c", None, None),
            "live": ("106540352242923", "gAAAA-encrypted", None),
            "deleted": ("106540352242924", None, "now()"),
        }
        async with db.sessionmaker() as s:
            for key, (pnid, token, deleted) in rows.items():
                await s.execute(
                    text(
                        "insert into ingest.channels (id, tenant_id, phone_number_id,"
                        " display_phone_number, access_token_encrypted, deleted_at) values"
                        f" (gen_random_uuid(), gen_random_uuid(), :p, :k, :t, {deleted or 'null'})"
                    ),
                    {"p": pnid, "k": key, "t": token},
                )
            await s.commit()
        await asyncio.to_thread(upgrade, SERVICE_DIR, url, "head")
        async with db.sessionmaker() as s:
            after = dict(
                (
                    await s.execute(
                        text(
                            "select display_phone_number, phone_number_id from ingest.channels"
                            " where verified_at is null"
                        )
                    )
                ).all()
            )
        assert after["squatted"].startswith("sandbox-") and len(after["squatted"]) == 40
        assert after["made-by-dashboard"] == "sandbox-0a1b2c"
        assert after["live"] == "106540352242923"
        assert after["deleted"] == "106540352242924"
    finally:
        await db.dispose()
        await _admin(server_database_url, f'drop database if exists "{name}" with (force)')


async def test_without_a_waba_id_reading_the_number_is_the_proof(platform: Any) -> None:
    """waba_id is optional: a token reads only its own accounts' numbers, so the number read
    proves the claim (the account is then unknown: no WABA stored, no account call made)."""
    token = "EAAG-no-waba-given"
    number = platform.graph.add_number(meta_id(), waba_id=meta_id(), token=token)
    owner = platform.tenant()
    r = await connect(platform, owner, phone_number_id=number.phone_number_id, access_token=token)
    assert r.status_code == 201, r.text
    assert r.json()["mode"] == "live"
    [row] = await stored(platform, number.phone_number_id)
    assert row.waba_id is None
    # Someone else's token cannot read it: still refused without a waba_id.
    squatter = platform.tenant()
    other = platform.graph.add_number(meta_id(), waba_id=meta_id(), token="EAAG-squatter")
    r = await connect(platform, squatter, phone_number_id=other.phone_number_id, access_token=token)
    assert r.status_code == 422, r.text
