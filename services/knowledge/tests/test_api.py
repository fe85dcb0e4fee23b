"""The knowledge API through HTTP, the real broker, the real parser pool and real Postgres."""

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from common.db import Database
from knowledge.main import create_app
from knowledge.models import outbox
from knowledge.settings import KnowledgeSettings
from wa_testing.plugin import TestKeyPair, assert_tenant_isolation, bearer, running_app

RETURNS = [
    (
        "Returns policy",
        "You can return any unworn item within 30 days of delivery for a full refund.",
    ),
    ("Shipping", "Orders ship from our warehouse in Porto within two business days."),
    ("Warranty", "Electronics carry a two year warranty covering manufacturing defects."),
]


async def test_upload_indexes_in_the_background_and_search_cites_the_page(
    client: httpx.AsyncClient, owner: dict[str, str], api: Any, make: SimpleNamespace
) -> None:
    pdf = make.pdf(RETURNS)
    response = await api.upload(client, owner, "returns-policy.pdf", pdf)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "processing"
    assert body["filename"] == "returns-policy.pdf"
    assert body["content_type"] == "application/pdf"
    assert body["size_bytes"] == len(pdf)

    done = await api.wait_settled(client, owner, body["id"])
    assert done["status"] == "indexed", done
    assert done["chunk_count"] >= 3
    assert done["error"] is None

    found = await client.get(
        "/api/knowledge/search", params={"q": "warranty electronics"}, headers=owner
    )
    assert found.status_code == 200, found.text
    [first, *_] = found.json()["results"]
    assert first["filename"] == "returns-policy.pdf"
    assert first["document_id"] == body["id"]
    assert first["page_number"] == 3
    assert "two year warranty" in first["text"]
    assert 0.5 <= first["score"] <= 1.0

    listing = await client.get("/api/documents", headers=owner)
    assert [d["id"] for d in listing.json()["items"]] == [body["id"]]
    assert listing.json()["next_cursor"] is None


async def outbox_events(settings: KnowledgeSettings, event_type: str, document_id: str) -> int:
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            bodies = (
                await session.execute(
                    select(outbox.c.body).where(outbox.c.event_type == event_type)
                )
            ).scalars()
            return sum(1 for b in bodies if b["payload"]["document_id"] == document_id)
    finally:
        await db.dispose()


async def test_the_same_file_twice_is_one_document_indexed_once(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
) -> None:
    data = f"Our shop opens at nine in the morning, Monday to Saturday. {uuid.uuid4()}\n".encode()
    first = await api.upload(client, owner, "hours.txt", data)
    second = await api.upload(client, owner, "opening-hours.txt", data)
    assert first.status_code == 202
    assert second.status_code == 202  # the same answer as any upload
    doc_id = first.json()["id"]
    assert second.json()["id"] == doc_id
    assert (await api.wait_settled(client, owner, doc_id))["status"] == "indexed"
    third = await api.upload(client, owner, "again.txt", data)
    assert third.status_code == 202
    assert third.json()["status"] == "indexed"
    listing = (await client.get("/api/documents", headers=owner)).json()["items"]
    assert [d["id"] for d in listing] == [doc_id]
    assert await outbox_events(knowledge_settings, "document.uploaded.v1", doc_id) == 1
    assert await outbox_events(knowledge_settings, "document.indexed.v1", doc_id) == 1
    # Another business uploading the same bytes gets its own document.
    other = bearer(test_keys.token(tenant_id=uuid.uuid4()))
    theirs = await api.upload(client, other, "hours.txt", data)
    assert theirs.status_code == 202
    assert theirs.json()["id"] != doc_id


async def test_too_large_and_unsupported_files_are_refused(
    knowledge_settings: KnowledgeSettings, parser_pool: Any, owner: dict[str, str], api: Any
) -> None:
    settings = knowledge_settings.model_copy(update={"max_upload_bytes": 1000})
    async with running_app(create_app(settings, pool=parser_pool)) as client:
        big = await api.upload(client, owner, "big.txt", b"a" * 1001)
        assert big.status_code == 413
        assert "1000 bytes" in big.json()["detail"]
        exe = await api.upload(client, owner, "tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 3)
        assert exe.status_code == 415
        assert "unsupported file type" in exe.json()["detail"]
        fake = await api.upload(client, owner, "invoice.pdf", b"just some text, not a PDF")
        assert fake.status_code == 415
        assert "named .pdf" in fake.json()["detail"]
        empty = await api.upload(client, owner, "empty.txt", b"")
        assert empty.status_code == 415
        listing = (await client.get("/api/documents", headers=owner)).json()
        assert listing["items"] == []


async def test_a_corrupt_or_locked_file_ends_failed_with_a_reason(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    api: Any,
    make: SimpleNamespace,
    knowledge_settings: KnowledgeSettings,
) -> None:
    corrupt = b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + bytes(range(256)) * 8
    locked = make.pdf(RETURNS, password="s3cret")
    ids = []
    for name, data in (("broken.pdf", corrupt), ("locked.pdf", locked)):
        response = await api.upload(client, owner, name, data)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    broken, protected = [await api.wait_settled(client, owner, i) for i in ids]
    assert broken["status"] == "failed"
    assert "PDF" in broken["error"] and "damaged" in broken["error"]
    assert protected["status"] == "failed"
    assert protected["error"] == "The PDF is password-protected: upload a copy without a password."
    assert protected["chunk_count"] == 0
    assert await outbox_events(knowledge_settings, "document.failed.v1", ids[1]) == 1
    # The service is fine afterwards.
    assert (await client.get("/health")).status_code == 200


async def test_delete_makes_the_passages_unsearchable_at_once(
    client: httpx.AsyncClient, owner: dict[str, str], api: Any
) -> None:
    data = b"The zebra-striped umbrella costs 42 euros and comes in three sizes."
    doc_id = (await api.upload(client, owner, "umbrella.txt", data)).json()["id"]
    assert (await api.wait_settled(client, owner, doc_id))["status"] == "indexed"
    params = {"q": "zebra umbrella"}
    before = await client.get("/api/knowledge/search", params=params, headers=owner)
    assert [r["document_id"] for r in before.json()["results"]] == [doc_id]

    assert (await client.delete(f"/api/documents/{doc_id}", headers=owner)).status_code == 204
    after = await client.get("/api/knowledge/search", params=params, headers=owner)
    assert after.json()["results"] == []
    assert (await client.get(f"/api/documents/{doc_id}", headers=owner)).status_code == 404
    assert (await client.delete(f"/api/documents/{doc_id}", headers=owner)).status_code == 404


async def test_reindex_indexes_the_stored_bytes_again(
    client: httpx.AsyncClient, owner: dict[str, str], api: Any
) -> None:
    doc_id = (
        await api.upload(client, owner, "faq.md", b"# FAQ\n\nWe accept cards and PayPal.\n")
    ).json()["id"]
    first = await api.wait_settled(client, owner, doc_id)
    response = await client.post(f"/api/documents/{doc_id}/reindex", headers=owner)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    again = await client.post(f"/api/documents/{doc_id}/reindex", headers=owner)
    assert again.status_code in (202, 409)  # 409 while a worker holds it
    second = await api.wait_settled(client, owner, doc_id)
    assert second["status"] == "indexed"
    assert second["chunk_count"] == first["chunk_count"]
    assert second["indexed_at"] > first["indexed_at"]
    found = await client.get("/api/knowledge/search", params={"q": "PayPal"}, headers=owner)
    assert len(found.json()["results"]) == 1  # old chunks replaced, not duplicated


async def test_documents_are_isolated_between_tenants(
    client: httpx.AsyncClient,
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
) -> None:
    async def create(headers: dict[str, str]) -> str:
        data = f"Secret price list {uuid.uuid4()}: gold plan 99 euros".encode()
        response = await api.upload(client, headers, "prices.txt", data)
        doc_id = response.json()["id"]
        await api.wait_settled(client, headers, doc_id)
        return str(doc_id)

    await assert_tenant_isolation(
        client,
        test_keys,
        create=create,
        item_path="/api/documents/{id}",
        list_path="/api/documents",
    )
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    a = bearer(test_keys.token(tenant_id=tenant_a))
    b = bearer(test_keys.token(tenant_id=tenant_b))
    doc_id = await create(a)
    reindex = await client.post(f"/api/documents/{doc_id}/reindex", headers=b)
    assert reindex.status_code == 404
    params = {"q": "secret price list gold plan"}
    mine = await client.get("/api/knowledge/search", params=params, headers=a)
    assert [r["document_id"] for r in mine.json()["results"]] == [doc_id]
    theirs = await client.get("/api/knowledge/search", params=params, headers=b)
    assert theirs.json()["results"] == []
    token = {"X-Internal-Token": knowledge_settings.internal_token.get_secret_value()}
    internal_b = await client.get(
        "/internal/search", params={**params, "tenant_id": str(tenant_b)}, headers=token
    )
    assert internal_b.json()["results"] == []
    internal_a = await client.get(
        "/internal/search", params={**params, "tenant_id": str(tenant_a)}, headers=token
    )
    [hit] = internal_a.json()["results"]
    assert hit["document_id"] == doc_id and hit["filename"] == "prices.txt"
    assert hit["position"] == 0 and hit["page_number"] is None
    refused = await client.get("/internal/search", params={**params, "tenant_id": str(tenant_a)})
    assert refused.status_code == 401


async def test_routes_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/documents"),
        ("POST", "/api/documents"),
        ("GET", f"/api/documents/{uuid.uuid4()}"),
        ("DELETE", f"/api/documents/{uuid.uuid4()}"),
        ("POST", f"/api/documents/{uuid.uuid4()}/reindex"),
        ("GET", "/api/knowledge/search?q=x"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)


async def test_agents_read_and_search_but_only_owners_and_admins_manage_documents(
    client: httpx.AsyncClient, api: Any, test_keys: TestKeyPair
) -> None:
    """Issue 12, finding 6: agents could upload, delete and reindex documents."""
    tenant = uuid.uuid4()
    owner = bearer(test_keys.token(tenant_id=tenant, role="owner"))
    admin = bearer(test_keys.token(tenant_id=tenant, role="admin"))
    agent = bearer(test_keys.token(tenant_id=tenant, role="agent"))
    data = b"The teal kayak rents for 15 euros an hour."
    doc_id = (await api.upload(client, owner, "kayak.txt", data)).json()["id"]
    assert (await api.wait_settled(client, owner, doc_id))["status"] == "indexed"

    refused = [
        await api.upload(client, agent, "agent.txt", b"Agents wrote this."),
        await client.delete(f"/api/documents/{doc_id}", headers=agent),
        await client.post(f"/api/documents/{doc_id}/reindex", headers=agent),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all(r.json() == {"detail": "this action needs the role owner or admin"} for r in refused)
    listing = await client.get("/api/documents", headers=agent)
    assert [d["id"] for d in listing.json()["items"]] == [doc_id]  # nothing was added
    assert (await client.get(f"/api/documents/{doc_id}", headers=agent)).json()["status"] == (
        "indexed"  # nor reindexed
    )
    found = await client.get("/api/knowledge/search", params={"q": "teal kayak"}, headers=agent)
    assert [r["document_id"] for r in found.json()["results"]] == [doc_id]

    assert (await client.post(f"/api/documents/{doc_id}/reindex", headers=admin)).status_code == 202
    await api.wait_settled(client, admin, doc_id)
    assert (await client.delete(f"/api/documents/{doc_id}", headers=admin)).status_code == 204


async def test_text_postgres_cannot_store_is_a_422_never_a_500(
    client: httpx.AsyncClient, owner: dict[str, str], api: Any
) -> None:
    """Issue 12, finding 14: `?q=%00…` and a NUL in a document's name were 500s."""
    for q in ("\x00", "returns\x00policy"):
        r = await client.get("/api/knowledge/search", params={"q": q}, headers=owner)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "q"]
    # Built by hand: httpx would percent-encode the NUL in the name.
    multipart = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="notes\x00.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nPlain text about opening hours.\r\n--B--\r\n"
    )
    headers = owner | {"content-type": "multipart/form-data; boundary=B"}
    r = await client.post("/api/documents", content=multipart, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": "filename: must not contain NUL (\\u0000) characters"}
    assert (await client.get("/api/documents", headers=owner)).json()["items"] == []
