"""Search quality on a small corpus: paraphrased questions that keyword search misses and
the fused search finds; a calibrated score that tells "nothing relevant" from a match."""

import uuid
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text as sql

from common.db import Database
from knowledge import e5, embeddings, ranking, repository
from knowledge.embeddings import MatrixCache
from knowledge.fairness import FairSlots
from knowledge.indexing import E5Backfill
from knowledge.search import Searcher
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from wa_testing.plugin import TestKeyPair, bearer

PASSAGES = {
    "returns": "Returns: you can send back any unworn item within 30 days of delivery and we "
    "refund the full price to your original payment method.",
    "shipping": "Delivery: orders leave our warehouse in Porto within two business days; "
    "standard delivery in Europe takes three to five days.",
    "warranty": "Warranty: electronics carry a two-year guarantee covering manufacturing "
    "defects. Accidental damage is not covered.",
    "hours": "Opening hours: our shops open at 9:00 and close at 19:00 from Monday to Saturday. "
    "We are closed on Sundays.",
    "payment": "Payment methods: we accept Visa, Mastercard, PayPal and bank transfer. Cash on "
    "delivery is not available.",
    "sizes": "Size guide: our shoes run small, so we recommend ordering one size above your "
    "usual size.",
    "giftcards": "Gift cards are valid for two years and can be used online and in every store.",
}
PARAPHRASED = [
    ("How do I get my money back for something I bought?", "returns"),
    ("When does the store shut on weekdays?", "hours"),
    ("My phone broke after a month because of a faulty part, is it covered?", "warranty"),
    ("How long until my package gets to Germany?", "shipping"),
    ("Should I buy a bigger pair of sneakers?", "sizes"),
    ("¿Cuánto tarda en llegar mi pedido?", "shipping"),
    ("Do vouchers expire?", "giftcards"),
]
KEYWORD = [("PayPal bank transfer", "payment"), ("gift cards valid", "giftcards")]
UNRELATED = ["What is the capital of France?", "who won the football match yesterday"]
# The responder's RELEVANCE_THRESHOLD default (services don't import each other).
RELEVANCE_THRESHOLD = 0.40


async def test_fused_search_finds_paraphrases_that_keywords_miss(
    client: httpx.AsyncClient,
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
) -> None:
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant))
    names: dict[str, str] = {}
    for name, text in PASSAGES.items():
        response = await api.upload(client, headers, f"{name}.txt", text.encode())
        names[response.json()["id"]] = name
    for doc_id in names:
        assert (await api.wait_settled(client, headers, doc_id))["status"] == "indexed"
    await api.wait_e5(knowledge_settings.database_url, tenant)

    searcher = Searcher(knowledge_settings, MatrixCache())
    db = Database(knowledge_settings.database_url, pool_size=1)

    async def ranked(question: str, fused: bool) -> list[tuple[str, float]]:
        async with db.session() as session:
            results = await searcher.search(session, tenant, question, 3, fused=fused)
        return [(names[str(r.document_id)], r.score) for r in results]

    async def top(question: str, fused: bool) -> tuple[str | None, float]:
        results = await ranked(question, fused)
        return results[0] if results else (None, 0.0)

    try:
        keyword_hits = 0
        answer_scores = []
        for question, expected in PARAPHRASED:
            keyword_hits += (await top(question, fused=False))[0] == expected
            # In the top 3 (what the responder reads): on seven passages a shared word
            # ("store") can lift another one above it.
            found = dict(await ranked(question, fused=True))
            assert expected in found, question
            answer_scores.append(found[expected])
        # Keyword-only (every-term matches first, then some-term ones) misses most of them.
        assert keyword_hits <= 3
        assert (await top("Do vouchers expire?", fused=False))[0] != "giftcards"
        for question, expected in KEYWORD:  # what keywords find, fusion keeps
            assert (await top(question, fused=False))[0] == expected
            found_first, score = await top(question, fused=True)
            assert found_first == expected
            answer_scores.append(score)
        # The calibrated score: unrelated questions fall below the responder's threshold
        # and below every answer.
        for question in UNRELATED:
            _, score = await top(question, fused=True)
            assert score < RELEVANCE_THRESHOLD and score < min(answer_scores), (question, score)
    finally:
        await db.dispose()

    # The same through HTTP, with the citation fields.
    response = await client.get(
        "/api/knowledge/search", params={"q": "Do vouchers expire?", "limit": 2}, headers=headers
    )
    results = response.json()["results"]
    assert len(results) == 2
    assert results[0]["filename"] == "giftcards.txt"
    assert results[0]["score"] >= results[1]["score"]


async def test_words_too_common_to_rank_are_ranked_among_the_embedding_candidates(
    client: httpx.AsyncClient,
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
) -> None:
    """Past `search_match_cap` strict matches the full text ranks only the embedding's
    candidates that hold every term; with every passage a candidate (a small corpus) that
    is the exact ranking, so capped and uncapped searches agree."""
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant))
    ids = []
    for name, passage in PASSAGES.items():
        ids.append(
            (await api.upload(client, headers, f"{name}.txt", passage.encode())).json()["id"]
        )
    for doc_id in ids:
        assert (await api.wait_settled(client, headers, doc_id))["status"] == "indexed"
    await api.wait_e5(knowledge_settings.database_url, tenant)
    db = Database(knowledge_settings.database_url, pool_size=1)
    question = "delivery days"  # in "returns", "shipping" (twice) and "payment"… 3 passages
    try:
        async with db.session() as session:
            chunk_of = dict(
                (
                    await session.execute(
                        sql(
                            "SELECT c.id, d.filename FROM knowledge.chunks c JOIN"
                            " knowledge.documents d ON d.id = c.document_id"
                            " WHERE c.tenant_id = :t"
                        ),
                        {"t": tenant},
                    )
                ).all()
            )
            every = list(chunk_of)

            async def matches(cap: int, candidates: list[uuid.UUID]) -> tuple[list[str], bool]:
                rows, too_common = await repository.full_text_candidates(
                    session,
                    tenant,
                    question,
                    ["english"],
                    10,
                    relaxed=False,
                    cap=cap,
                    candidates=candidates,
                )
                assert all(complete for _, _, complete in rows)
                return [chunk_of[chunk_id] for chunk_id, _, _ in rows], too_common

            exact, too_common = await matches(100, [])
            assert set(exact) == {"returns.txt", "shipping.txt"} and not too_common
            assert exact[0] == "shipping.txt"  # "days" twice
            assert await matches(2, []) == ([], True)  # 2 or more: too common to rank
            # Then the candidates alone (cap 0): ranked as the full text ranks them.
            assert await matches(0, every) == (exact, False)
            shipping = next(c for c, name in chunk_of.items() if name == "shipping.txt")
            assert await matches(0, [shipping]) == (["shipping.txt"], False)
            assert await matches(100, [shipping]) == (exact, False)

        capped = Searcher(
            knowledge_settings.model_copy(update={"search_match_cap": 2}), MatrixCache()
        )
        uncapped = Searcher(knowledge_settings, MatrixCache())
        async with db.session() as session:
            a = await capped.search(session, tenant, question, 5)
            b = await uncapped.search(session, tenant, question, 5)
        assert [(r.chunk_id, r.score) for r in a] == [(r.chunk_id, r.score) for r in b]
        assert a[0].filename in {"shipping.txt", "returns.txt"} and a[0].score >= 0.5
    finally:
        await db.dispose()


async def test_the_full_text_index_has_no_pending_list(knowledge_database_url: str) -> None:
    """fastupdate off: new chunks go straight into the GIN index, never into a pending list
    that every search would have to scan."""
    db = Database(knowledge_database_url, pool_size=1)
    try:
        async with db.session() as session:
            options = await session.scalar(
                sql("SELECT reloptions FROM pg_class WHERE relname = 'ix_chunks_tenant_tsv'")
            )
        assert options == ["fastupdate=off"]
    finally:
        await db.dispose()


async def test_chunks_without_e5_are_searchable_and_the_backfill_embeds_them(
    client: httpx.AsyncClient,
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
    parser_pool: ParserPool,
) -> None:
    """A tenant whose chunks were stored before e5 (or whose new document the backfill has
    not reached yet) is searched with USE in e5's place; the backfill then embeds every
    chunk, bumps the corpus version, and the score becomes the calibrated e5 cosine."""
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant))
    ids = []
    for name, passage in PASSAGES.items():
        ids.append(
            (await api.upload(client, headers, f"{name}.txt", passage.encode())).json()["id"]
        )
    for doc_id in ids:
        assert (await api.wait_settled(client, headers, doc_id))["status"] == "indexed"
    await api.wait_e5(knowledge_settings.database_url, tenant)
    db = Database(knowledge_settings.database_url, pool_size=1)
    searcher = Searcher(knowledge_settings, MatrixCache())
    question = "When does the store shut on weekdays?"
    try:
        async with db.session() as session:
            embedded = await searcher.search(session, tenant, question, 3)
            version = await repository.corpus_version(session, tenant)
            # As if these chunks had been stored before e5 existed (the migration's state).
            await session.execute(
                sql("UPDATE knowledge.chunk_embeddings SET e5 = NULL WHERE tenant_id = :t"),
                {"t": tenant},
            )
            await repository.bump_corpus_version(session, tenant)
            await session.commit()
            without = await searcher.search(session, tenant, question, 3)
        cached = searcher.cache.get(tenant, version + 1)
        assert cached is not None and cached.e5.shape[0] == 0 and cached.matrix.shape[0] > 0
        # Found all the same (USE + BM25; in the top 3: "store" is only in the gift cards'
        # passage), scored by the calibrated USE cosine meanwhile.
        assert embedded[0].filename == "hours.txt"
        assert "hours.txt" in [r.filename for r in without]
        use = embeddings.encode_query(question)
        assert without[0].score == round(embeddings.calibrated(float(
            cached.matrix[cached.row_of(without[0].chunk_id)] @ use)), 4)  # fmt: skip

        # The backfill (the app's, or this one) gives every chunk its vector again.
        backfill = E5Backfill(db, parser_pool, knowledge_settings, FairSlots(1, 16))
        await backfill.drain()
        await api.wait_e5(knowledge_settings.database_url, tenant)
        async with db.session() as session:
            assert await repository.corpus_version(session, tenant) > version + 1
            again = await searcher.search(session, tenant, question, 3)
            vectors = (
                await session.execute(
                    sql("SELECT e5 FROM knowledge.chunk_embeddings WHERE chunk_id = :c"),
                    {"c": again[0].chunk_id},
                )
            ).scalar_one()
        assert [r.chunk_id for r in again] == [r.chunk_id for r in embedded]
        cosine = float(np.frombuffer(vectors, np.float16).astype(np.float32) @ e5.encode_query(
            question))  # fmt: skip
        assert again[0].score == round(ranking.e5_calibrated(cosine), 4)
        assert again[0].score >= RELEVANCE_THRESHOLD
    finally:
        await db.dispose()


async def test_remembered_passages_follow_the_corpus_version(
    client: httpx.AsyncClient,
    api: Any,
    test_keys: TestKeyPair,
    knowledge_settings: KnowledgeSettings,
) -> None:
    """The rows a search returned are reused only at the same corpus version: a deleted
    document's passage is not returned from memory, and a remembered answer is the same as a
    fresh one."""
    tenant = uuid.uuid4()
    headers = bearer(test_keys.token(tenant_id=tenant))
    ids = {}
    for name in ("returns", "shipping"):
        response = await api.upload(client, headers, f"{name}.txt", PASSAGES[name].encode())
        ids[name] = response.json()["id"]
        assert (await api.wait_settled(client, headers, ids[name]))["status"] == "indexed"
    await api.wait_e5(knowledge_settings.database_url, tenant)
    searcher = Searcher(knowledge_settings, MatrixCache())
    db = Database(knowledge_settings.database_url, pool_size=1)

    async def search(with_searcher: Searcher) -> list[Any]:
        async with db.session() as session:
            return await with_searcher.search(session, tenant, "Can I send an item back?", 5)

    try:
        first = await search(searcher)
        assert {str(r.document_id) for r in first} == set(ids.values())
        assert await search(searcher) == first  # remembered
        assert await search(Searcher(knowledge_settings, MatrixCache())) == first
        response = await client.delete(f"/api/documents/{ids['returns']}", headers=headers)
        assert response.status_code == 204
        after = await search(searcher)
        assert [str(r.document_id) for r in after] == [ids["shipping"]]
        assert after == await search(Searcher(knowledge_settings, MatrixCache()))
    finally:
        await db.dispose()
