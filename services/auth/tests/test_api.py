"""auth over HTTP, against real Postgres: every route's success and failure paths."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from common.auth import JWKSVerifier, TokenError
from wa_testing.plugin import bearer

PASSWORD = "correct horse battery"


async def verifier_of(client: httpx.AsyncClient) -> JWKSVerifier:
    """What any other service does: verify with the public keys auth publishes."""
    jwks = (await client.get("/.well-known/jwks.json")).json()
    return JWKSVerifier(jwks=jwks, issuer="whatsapp-ai-auth", audience="whatsapp-ai")


# --- register ----------------------------------------------------------------------------------


async def test_register_creates_the_business_and_its_owner(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/auth/register",
        json={
            "email": "  Lucia@Padaria.EXAMPLE ",
            "password": PASSWORD,
            "name": " Lúcia ",
            "business_name": "Padaria Lúcia",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_at", "user", "tenant"}
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "lucia@padaria.example"  # normalised
    assert body["user"]["name"] == "Lúcia"
    assert body["user"]["role"] == "owner"
    assert body["tenant"]["name"] == "Padaria Lúcia"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    principal = await (await verifier_of(client)).verify(body["access_token"])
    assert str(principal.user_id) == body["user"]["id"]
    assert str(principal.tenant_id) == body["tenant"]["id"]
    assert principal.role == "owner"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"sub", "tid", "role", "iat", "exp", "iss", "aud"} <= set(claims)


async def test_the_same_email_twice_is_a_409(client: httpx.AsyncClient, register: Any) -> None:
    first = await register()
    r = await client.post(
        "/api/auth/register",
        json={
            "email": first["user"]["email"].upper(),
            "password": PASSWORD,
            "name": "X",
            "business_name": "Another",
        },
    )
    assert r.status_code == 409
    assert r.json() == {"detail": "an account with this email already exists"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"business_name": "x" * 121}, "business_name"),
        ({"business_name": None}, "business_name"),
        # Issue 12, finding 14: Postgres cannot store NUL (these were 500s).
        ({"name": "Ana\x00"}, "name"),
        ({"business_name": "Padaria\x00Lúcia"}, "business_name"),
        ({"email": "a\x00b@example.com"}, "email"),
    ],
)
async def test_bad_registrations_are_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {
        "email": f"{uuid.uuid4().hex}@example.com",
        "password": PASSWORD,
        "name": "N",
        "business_name": "B",
        **change,
    }
    r = await client.post("/api/auth/register", json=body)
    assert r.status_code == 422
    assert field in {str(part) for e in r.json()["detail"] for part in e["loc"]}


# --- login, me, refresh ------------------------------------------------------------------------


async def test_login_gives_a_token_for_the_right_password(
    client: httpx.AsyncClient, register: Any
) -> None:
    owner = await register()
    r = await client.post(
        "/api/auth/login", json={"email": owner["user"]["email"].title(), "password": PASSWORD}
    )
    assert r.status_code == 200
    assert r.json()["user"] == owner["user"]
    assert r.json()["tenant"] == owner["tenant"]


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, register: Any
) -> None:
    owner = await register()
    wrong = await client.post(
        "/api/auth/login", json={"email": owner["user"]["email"], "password": "wrong password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email or password"}


async def test_me_returns_the_user_and_business(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    r = await client.get("/api/auth/me", headers=bearer(owner["access_token"]))
    assert r.status_code == 200
    assert r.json() == {"user": owner["user"], "tenant": owner["tenant"]}


async def test_refresh_renews_a_valid_token(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    r = await client.post("/api/auth/refresh", headers=bearer(owner["access_token"]))
    assert r.status_code == 200
    renewed = r.json()
    assert renewed["user"] == owner["user"]
    assert datetime.fromisoformat(renewed["expires_at"]) >= datetime.fromisoformat(
        owner["expires_at"]
    )
    principal = await (await verifier_of(client)).verify(renewed["access_token"])
    assert str(principal.user_id) == owner["user"]["id"]


async def forge(app: FastAPI, claims: dict[str, Any]) -> str:
    """A token signed with auth's real active key (to test expiry and the like)."""
    return str(await app.state.key_ring.sign(claims))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/refresh"])
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, register: Any, auth_app: FastAPI, path: str
) -> None:
    owner = await register()
    claims = claims_of(owner["access_token"])
    method = "GET" if path.endswith("me") else "POST"

    expired = await forge(auth_app, {**claims, "exp": datetime.now(UTC) - timedelta(seconds=1)})
    header, payload, signature = owner["access_token"].split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    wrong_audience = await forge(auth_app, {**claims, "aud": "another-product"})
    for token in (expired, tampered, unsigned, wrong_audience, "garbage"):
        r = await client.request(method, path, headers=bearer(token))
        assert r.status_code == 401, (token, r.text)
    assert (await client.request(method, path)).status_code == 401


# --- team --------------------------------------------------------------------------------------


async def add_member(
    client: httpx.AsyncClient, token: str, role: str = "agent", **overrides: Any
) -> httpx.Response:
    body = {
        "email": f"m-{uuid.uuid4().hex[:10]}@example.com",
        "name": "Member",
        "password": PASSWORD,
        "role": role,
        **overrides,
    }
    return await client.post("/api/team/members", json=body, headers=bearer(token))


async def login_as(client: httpx.AsyncClient, email: str) -> str:
    r = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_an_owner_adds_lists_and_removes_members(
    client: httpx.AsyncClient, register: Any
) -> None:
    owner = await register()
    added = await add_member(client, owner["access_token"], "agent", name="Ana Agent")
    assert added.status_code == 201
    agent = added.json()
    assert set(agent) == {"id", "email", "name", "role", "created_at"}
    assert agent["role"] == "agent" and agent["name"] == "Ana Agent"
    admin = (await add_member(client, owner["access_token"], "admin")).json()

    listing = await client.get("/api/team/members", headers=bearer(owner["access_token"]))
    assert listing.status_code == 200
    assert [m["id"] for m in listing.json()["items"]] == [
        owner["user"]["id"],
        agent["id"],
        admin["id"],
    ]
    assert listing.json()["next_cursor"] is None

    # The agent can sign in with the password the owner gave.
    agent_token = await login_as(client, agent["email"])
    assert (await client.get("/api/auth/me", headers=bearer(agent_token))).status_code == 200

    removed = await client.delete(
        f"/api/team/members/{agent['id']}", headers=bearer(owner["access_token"])
    )
    assert removed.status_code == 204
    # Removed: auth refuses the token at once, so it can no longer be renewed.
    assert (await client.get("/api/auth/me", headers=bearer(agent_token))).status_code == 401
    assert (await client.post("/api/auth/refresh", headers=bearer(agent_token))).status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": agent["email"], "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_members_are_paginated(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    for _ in range(4):
        assert (await add_member(client, owner["access_token"])).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(
                "/api/team/members", params=params, headers=bearer(owner["access_token"])
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    bad = await client.get("/api/team/members?cursor=zzz", headers=bearer(owner["access_token"]))
    assert bad.status_code == 400


async def test_an_agent_cannot_manage_the_team(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    agent = (await add_member(client, owner["access_token"])).json()
    agent_token = await login_as(client, agent["email"])
    refused = await add_member(client, agent_token)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this action needs the role owner or admin"}
    delete = await client.delete(
        f"/api/team/members/{owner['user']['id']}", headers=bearer(agent_token)
    )
    assert delete.status_code == 403
    # Seeing one's teammates is not managing them.
    assert (await client.get("/api/team/members", headers=bearer(agent_token))).status_code == 200


async def test_the_last_owner_stays(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    r = await client.delete(
        f"/api/team/members/{owner['user']['id']}", headers=bearer(owner["access_token"])
    )
    assert r.status_code == 409
    assert r.json() == {"detail": "the last owner of a business cannot be removed"}


async def test_an_admin_cannot_remove_an_owner(client: httpx.AsyncClient, register: Any) -> None:
    owner = await register()
    admin = (await add_member(client, owner["access_token"], "admin")).json()
    admin_token = await login_as(client, admin["email"])
    r = await client.delete(f"/api/team/members/{owner['user']['id']}", headers=bearer(admin_token))
    assert r.status_code == 403
    # ...but can add and remove agents.
    agent = (await add_member(client, admin_token)).json()
    gone = await client.delete(f"/api/team/members/{agent['id']}", headers=bearer(admin_token))
    assert gone.status_code == 204


async def test_a_removed_admin_cannot_manage_the_team_and_is_listed_as_revoked(
    client: httpx.AsyncClient, register: Any
) -> None:
    """Issue 12, finding 2: a removed admin's unexpired token could add a new admin."""
    owner = await register()
    admin = (await add_member(client, owner["access_token"], "admin")).json()
    agent = (await add_member(client, owner["access_token"])).json()
    admin_token = await login_as(client, admin["email"])
    gone = await client.delete(
        f"/api/team/members/{admin['id']}", headers=bearer(owner["access_token"])
    )
    assert gone.status_code == 204
    # At once (the stored user is checked, not only the token), before any event arrives.
    minted = await add_member(client, admin_token, "admin")
    assert minted.status_code == 401, minted.text
    removal = await client.delete(f"/api/team/members/{agent['id']}", headers=bearer(admin_token))
    assert removal.status_code == 401

    # The durable list every service syncs from: service token only.
    assert (await client.get("/internal/revocations")).status_code == 401
    listed = await client.get(
        "/internal/revocations", headers={"X-Internal-Token": "auth-test-internal"}
    )
    assert listed.status_code == 200
    assert admin["id"] in {item["user_id"] for item in listed.json()["items"]}
    assert agent["id"] not in {item["user_id"] for item in listed.json()["items"]}


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"role": "owner"}, 422),
        ({"role": "superuser"}, 422),
        ({"password": "1234567"}, 422),
        ({"email": "bad"}, 422),
    ],
)
async def test_bad_members_are_refused(
    client: httpx.AsyncClient, register: Any, overrides: dict[str, Any], status: int
) -> None:
    owner = await register()
    assert (await add_member(client, owner["access_token"], **overrides)).status_code == status


async def test_a_member_email_already_in_use_is_a_409(
    client: httpx.AsyncClient, register: Any
) -> None:
    owner, other = await register(), await register()
    r = await add_member(client, owner["access_token"], email=other["user"]["email"])
    assert r.status_code == 409


async def test_another_tenant_s_members_are_invisible_and_untouchable(
    client: httpx.AsyncClient, register: Any
) -> None:
    a, b = await register(), await register()
    a_agent = (await add_member(client, a["access_token"])).json()
    b_list = (await client.get("/api/team/members", headers=bearer(b["access_token"]))).json()
    assert [m["id"] for m in b_list["items"]] == [b["user"]["id"]]
    for target in (a_agent["id"], a["user"]["id"], str(uuid.uuid4())):
        r = await client.delete(f"/api/team/members/{target}", headers=bearer(b["access_token"]))
        assert r.status_code == 404
        assert r.json() == {"detail": "member not found"}
    a_list = (await client.get("/api/team/members", headers=bearer(a["access_token"]))).json()
    assert {m["id"] for m in a_list["items"]} == {a["user"]["id"], a_agent["id"]}


# --- keys --------------------------------------------------------------------------------------


async def test_jwks_publishes_only_public_keys(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    [key] = [k for k in r.json()["keys"] if k["kid"]][:1]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key  # the private part never leaves auth
    assert "max-age" in r.headers["cache-control"]


async def test_rotation_needs_the_admin_token_not_the_service_token(
    client: httpx.AsyncClient,
) -> None:
    """Issue 12, finding 17: the token every service holds could rotate the signing key."""
    assert (await client.post("/internal/keys/rotate")).status_code == 401
    wrong = await client.post("/internal/keys/rotate", headers={"X-Admin-Token": "guess"})
    assert wrong.status_code == 401
    service = await client.post(
        "/internal/keys/rotate", headers={"X-Internal-Token": "auth-test-internal"}
    )
    assert service.status_code == 401
    assert service.json() == {"detail": "key rotation needs the admin token (X-Admin-Token)"}
    # The admin token is no service token either: it opens no other internal route.
    listed = await client.get("/internal/revocations", headers={"X-Admin-Token": "auth-test-admin"})
    assert listed.status_code == 401
    rotated = await client.post(
        "/internal/keys/rotate", headers={"X-Admin-Token": "auth-test-admin"}
    )
    assert rotated.status_code == 200


async def test_after_rotation_old_and_new_tokens_both_verify(
    client: httpx.AsyncClient, register: Any
) -> None:
    owner = await register()
    old_kid = jwt.get_unverified_header(owner["access_token"])["kid"]
    r = await client.post("/internal/keys/rotate", headers={"X-Admin-Token": "auth-test-admin"})
    assert r.status_code == 200
    new_kid = r.json()["kid"]
    assert new_kid != old_kid
    fresh = await client.post(
        "/api/auth/login", json={"email": owner["user"]["email"], "password": PASSWORD}
    )
    assert jwt.get_unverified_header(fresh.json()["access_token"])["kid"] == new_kid
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    verifier = await verifier_of(client)
    await verifier.verify(owner["access_token"])
    await verifier.verify(fresh.json()["access_token"])
    # auth itself accepts both too.
    for token in (owner["access_token"], fresh.json()["access_token"]):
        assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200
    with pytest.raises(TokenError):
        await verifier.verify(owner["access_token"][:-4] + "AAAA")
