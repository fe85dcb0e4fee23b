"""Retrieval quality of knowledge search on a small evaluation set: keyword-only vs fused.

Each question names the passage that answers it; many are paraphrased (no shared keywords)
and some are in Spanish or Portuguese against English passages. Prints hit@1, hit@3 and MRR.

make bench            (uses DATABASE_URL; creates and drops its own database)
"""

import asyncio
import os
import uuid

from sqlalchemy import text

from common.db import Database, ensure_database
from common.migrations import upgrade
from knowledge.embeddings import MatrixCache
from knowledge.main import SERVICE_DIR
from knowledge.parsing import ChunkingOptions
from knowledge.service import Indexer, Searcher
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool

SERVER_URL = os.environ.get(
    "DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/whatsapp_ai"
)

PASSAGES = {
    "returns": "Returns: you can send back any unworn item within 30 days of delivery and we "
    "refund the full price to your original payment method.",
    "exchange": "Exchanges: if the size does not fit, we swap it for another size free of "
    "charge; the replacement ships as soon as the first item arrives back at our warehouse.",
    "shipping": "Delivery: orders leave our warehouse in Porto within two business days; "
    "standard delivery in Europe takes three to five days.",
    "express": "Express shipping costs 12 euros and delivers the next working day to "
    "mainland Portugal and Spain when ordered before 1 pm.",
    "tracking": "Every parcel gets a tracking number by email once it leaves the warehouse; "
    "follow it on the carrier's website.",
    "warranty": "Warranty: electronics carry a two-year guarantee covering manufacturing "
    "defects. Accidental damage is not covered.",
    "repairs": "Repairs outside the guarantee are quoted before any work starts; a typical "
    "screen replacement costs 80 euros.",
    "hours": "Opening hours: our shops open at 9:00 and close at 19:00 from Monday to "
    "Saturday. We are closed on Sundays.",
    "payment": "Payment methods: we accept Visa, Mastercard, PayPal and bank transfer. Cash "
    "on delivery is not available.",
    "instalments": "Purchases above 300 euros can be paid in three interest-free monthly "
    "instalments with Klarna.",
    "sizes": "Size guide: our shoes run small, so we recommend ordering one size above your "
    "usual size.",
    "giftcards": "Gift cards are valid for two years and can be used online and in every store.",
    "privacy": "Privacy: we never sell personal data and delete customer records on request "
    "within 30 days.",
    "account": "To reset your password, use the 'forgot password' link on the login page; "
    "the link in the email is valid for one hour.",
    "loyalty": "Members of our loyalty club earn one point per euro spent; 100 points give "
    "a 5 euro discount on the next order.",
    "contact": "Customer service answers by phone on +351 210 000 000 on weekdays from 9 to "
    "18, and by email at help@example.com.",
}

QUESTIONS = [
    # keyword-friendly
    ("What is the return policy for unworn items?", "returns"),
    ("How much does express shipping cost?", "express"),
    ("Which payment methods do you accept?", "payment"),
    ("How long are gift cards valid?", "giftcards"),
    ("How do I reset my password?", "account"),
    ("tracking number for my parcel", "tracking"),
    ("screen replacement repair cost", "repairs"),
    ("loyalty points discount", "loyalty"),
    # paraphrased: few or no shared words
    ("How do I get my money back for something I bought?", "returns"),
    ("The shoes are too tight, can I get a bigger pair instead?", "exchange"),
    ("When does the store shut on weekdays?", "hours"),
    ("Are you open on the weekend?", "hours"),
    ("My phone broke after a month because of a faulty part, is it covered?", "warranty"),
    ("How long until my package gets to Germany?", "shipping"),
    ("Can I receive my order tomorrow?", "express"),
    ("Where is my order right now?", "tracking"),
    ("Can I pay with cash when the parcel arrives?", "payment"),
    ("Can I split the payment for an expensive sofa?", "instalments"),
    ("Should I buy a bigger pair of sneakers?", "sizes"),
    ("Do vouchers expire?", "giftcards"),
    ("Do you share my information with other companies?", "privacy"),
    ("I can't log in to my account", "account"),
    ("Do regular customers get rewards?", "loyalty"),
    ("How can I talk to a person?", "contact"),
    ("How much will it cost to fix my cracked display?", "repairs"),
    # other languages
    ("¿Cuánto tarda en llegar mi pedido?", "shipping"),
    ("Quero devolver uma camisola, é possível?", "returns"),
    ("¿Puedo pagar a plazos?", "instalments"),
    ("Qual é o horário das lojas?", "hours"),
    ("¿Cómo contacto con atención al cliente?", "contact"),
]


async def main() -> None:
    db_url = SERVER_URL.rsplit("/", 1)[0] + f"/wa_bench_{uuid.uuid4().hex[:8]}"
    await ensure_database(db_url)
    await asyncio.to_thread(upgrade, SERVICE_DIR, db_url)
    settings = KnowledgeSettings(database_url=db_url)
    db = Database(db_url, pool_size=2)
    pool = ParserPool(1)
    tenant = uuid.uuid4()
    names: dict[uuid.UUID, str] = {}
    try:
        indexer = Indexer(db, pool, settings)
        for name, passage in PASSAGES.items():
            doc_id = uuid.uuid4()
            names[doc_id] = name
            async with db.session() as session:
                await session.execute(
                    text(
                        "INSERT INTO knowledge.documents (id, tenant_id, filename, content_type,"
                        " file_type, size_bytes, sha256, content, status) VALUES (:id, :t, :f,"
                        " 'text/plain', 'txt', :n, :h, :c, 'processing')"
                    ),
                    {
                        "id": doc_id,
                        "t": tenant,
                        "f": f"{name}.txt",
                        "n": len(passage),
                        "h": uuid.uuid4().hex,
                        "c": passage.encode(),
                    },
                )
            await indexer.index(tenant, doc_id)
        searcher = Searcher(settings, MatrixCache())
        print(f"{len(PASSAGES)} passages, {len(QUESTIONS)} questions")
        print(f"{'mode':<14}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}")
        for label, fused in (("keyword-only", False), ("fused", True)):
            hit1 = hit3 = rr = 0.0
            misses = []
            for question, expected in QUESTIONS:
                async with db.session() as session:
                    results = await searcher.search(session, tenant, question, 10, fused=fused)
                ranked = [names[r.document_id] for r in results]
                rank = ranked.index(expected) + 1 if expected in ranked else None
                hit1 += rank == 1
                hit3 += rank is not None and rank <= 3
                rr += 1 / rank if rank else 0
                if rank != 1:
                    misses.append(question)
            n = len(QUESTIONS)
            print(f"{label:<14}{hit1 / n:>8.2f}{hit3 / n:>8.2f}{rr / n:>8.2f}")
            if fused:
                print("fused misses at rank 1:", misses or "none")
        # The calibrated score: answerable questions vs unrelated ones.
        async with db.session() as session:
            good = [(await searcher.search(session, tenant, q, 1))[0].score for q, _ in QUESTIONS]
            unrelated = [
                (await searcher.search(session, tenant, q, 1))[0].score
                for q in (
                    "What is the capital of France?",
                    "Do you sell car insurance?",
                    "Who won the football match yesterday?",
                    "Recipe for apple pie",
                )
            ]
        print(
            f"top-1 score, answerable questions: min {min(good):.2f} median "
            f"{sorted(good)[len(good) // 2]:.2f}; unrelated questions: max {max(unrelated):.2f}"
        )
        _ = ChunkingOptions
    finally:
        pool.close()
        await db.dispose()
        # The server's maintenance database: DATABASE_URL's own may not exist.
        admin = Database(SERVER_URL.rsplit("/", 1)[0] + "/postgres", pool_size=1)
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                text(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
            )
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
