"""Fixtures of knowledge's tests: settings, a running app, and real files of every format."""

import io
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from common.db import Database
from knowledge.main import SERVICE_DIR, create_app
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from wa_testing.plugin import (
    TestKeyPair,
    bearer,
    eventually,
    migrated_database,
    running_app,
    service_settings,
)


@pytest.fixture(scope="session")
def knowledge_database_url(database_url: str) -> str:
    return migrated_database(database_url, SERVICE_DIR)


@pytest.fixture(scope="session")
def parser_pool() -> Iterator[ParserPool]:
    """One pool for the whole run: its worker loads unstructured and spaCy once."""
    pool = ParserPool(workers=1)
    yield pool
    pool.close()


@pytest.fixture
def knowledge_settings(
    knowledge_database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> KnowledgeSettings:
    return service_settings(
        KnowledgeSettings,
        database_url=knowledge_database_url,
        amqp_url=amqp_url,
        bus_prefix=bus_prefix,
        keys=test_keys,
        sweep_interval_s=0.3,
        index_lease_s=3.0,
        e5_backfill_idle_s=0.3,
    )


@pytest.fixture
async def client(
    knowledge_settings: KnowledgeSettings, parser_pool: ParserPool
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(knowledge_settings, pool=parser_pool)) as c:
        yield c


@pytest.fixture
def owner(test_keys: TestKeyPair) -> dict[str, str]:
    return bearer(test_keys.token(tenant_id=uuid.uuid4(), role="owner"))


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes
) -> httpx.Response:
    return await client.post("/api/documents", files={"file": (name, data)}, headers=headers)


async def wait_settled(
    client: httpx.AsyncClient, headers: dict[str, str], doc_id: str, timeout: float = 60
) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get(f"/api/documents/{doc_id}", headers=headers)
        ).json()
        return body if body["status"] != "processing" else None

    result: dict[str, Any] = await eventually(settled, timeout=timeout, interval=0.1)
    return result


async def wait_e5(database_url: str, tenant_id: uuid.UUID, timeout: float = 180) -> None:
    """Until the app's background backfill has given every chunk of the tenant its e5 vector
    (~0.5 s a chunk), so that searches see one state."""
    db = Database(database_url, pool_size=1)

    async def done() -> bool:
        async with db.session() as session:
            missing = await session.scalar(
                text(
                    "SELECT count(*) FROM knowledge.chunk_embeddings"
                    " WHERE tenant_id = :t AND e5 IS NULL"
                ),
                {"t": tenant_id},
            )
        return missing == 0

    try:
        await eventually(done, timeout=timeout, interval=0.2)
    finally:
        await db.dispose()


@pytest.fixture
def api() -> Any:
    """The helpers above, for test modules (tests dirs are not packages)."""

    class Api:
        upload = staticmethod(upload)
        wait_settled = staticmethod(wait_settled)
        wait_e5 = staticmethod(wait_e5)

    return Api


# --- real files --------------------------------------------------------------------------------


def make_pdf(pages: list[tuple[str, str]], *, password: str | None = None) -> bytes:
    """One page per (heading, body), with a text layer (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story: list[Any] = []
    for heading, body in pages:
        story += [Paragraph(heading, styles["Heading1"]), Paragraph(body, styles["BodyText"])]
        story.append(PageBreak())
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, encrypt=password).build(story)
    return buffer.getvalue()


def make_docx(title: str, paragraphs: list[str], bullets: list[str] = ()) -> bytes:  # type: ignore[assignment]
    import docx

    document = docx.Document()
    document.add_heading(title, 1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    for bullet in bullets:
        document.add_paragraph(bullet, style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for (r, c), value in {
        (0, 0): "Zone",
        (0, 1): "Price",
        (1, 0): "Europe",
        (1, 1): "5 EUR",
    }.items():
        table.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_doc(docx_bytes: bytes) -> bytes:
    """Legacy Word .doc, converted by LibreOffice from a DOCX."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.docx"
        source.write_bytes(docx_bytes)
        subprocess.run(
            ["soffice", "--headless", "--convert-to", "doc", "--outdir", tmp, str(source)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return (Path(tmp) / "source.doc").read_bytes()


@pytest.fixture(scope="session")
def make() -> SimpleNamespace:
    """File makers for test modules: make.pdf(...), make.docx(...), make.doc(...)."""
    return SimpleNamespace(pdf=make_pdf, docx=make_docx, doc=make_doc)
