"""Documents of a business: upload (quota, type, duplicates), list, read, delete and
reindex. Request-scoped: each function flushes and the caller commits, so the event it
writes to the outbox commits with it."""

import asyncio
import hashlib
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import (
    DocumentUploadedPayload,
    DocumentUploadedV1,
)
from common.outbox import add_event
from common.pagination import Page, PageQuery, trim_page
from knowledge import repository
from knowledge.models import Document, outbox
from knowledge.parsing import (
    UnsupportedFileType,
    detect_kind,
)
from knowledge.schemas import DocumentOut, document_out
from knowledge.settings import KnowledgeSettings

log = structlog.get_logger(__name__)


def uploaded_event(document: Document) -> DocumentUploadedV1:
    return DocumentUploadedV1(
        tenant_id=document.tenant_id,
        payload=DocumentUploadedPayload(
            document_id=document.id,
            filename=document.filename,
            content_type=document.content_type,
            size_bytes=document.size_bytes,
            sha256=document.sha256,
        ),
    )


async def upload_document(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    filename: str,
    data: bytes,
    settings: KnowledgeSettings,
) -> tuple[Document, bool]:
    """Store the bytes and queue indexing; (document, False) when the tenant has them already."""
    if len(data) > settings.max_upload_bytes:
        raise AppError(413, f"the file is larger than {settings.max_upload_bytes} bytes")
    try:
        kind = await asyncio.to_thread(detect_kind, data, filename)
    except UnsupportedFileType as exc:
        raise AppError(415, str(exc)) from exc
    sha256 = hashlib.sha256(data).hexdigest()
    await repository.lock_tenant_documents(session, tenant_id)
    existing = await repository.find_by_sha256(session, tenant_id, sha256)
    if existing is not None:  # the same bytes again: no new document, so no quota used
        log.info("document.duplicate", document_id=str(existing.id))
        return existing, False
    await check_quota(session, tenant_id, len(data), settings)
    document = await repository.insert_document(
        session,
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "filename": filename[:255],
            "content_type": kind.content_type,
            "file_type": kind.file_type,
            "size_bytes": len(data),
            "sha256": sha256,
            "content": data,
            "status": "processing",
        },
    )
    if document is None:
        existing = await repository.get_by_sha256(session, tenant_id, sha256)
        log.info("document.duplicate", document_id=str(existing.id))
        return existing, False
    await add_event(session, outbox, uploaded_event(document))
    log.info("document.uploaded", document_id=str(document.id), file_type=kind.file_type)
    return document, True


async def check_quota(
    session: AsyncSession, tenant_id: uuid.UUID, size: int, settings: KnowledgeSettings
) -> None:
    """413 when one more document of `size` bytes would exceed the business's quota."""
    count, stored = await repository.tenant_usage(session, tenant_id)
    if count + 1 > settings.tenant_max_documents:
        raise AppError(
            413,
            f"the business has {count} documents, the most it may store "
            f"({settings.tenant_max_documents}): delete some before uploading more",
        )
    if stored + size > settings.tenant_max_document_bytes:
        raise AppError(
            413,
            f"the business's documents would take {stored + size} bytes, more than its "
            f"quota of {settings.tenant_max_document_bytes}: delete some before uploading more",
        )


async def list_documents(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> Page[DocumentOut]:
    rows = await repository.list_documents(session, tenant_id, page)
    documents, cursor = trim_page(rows, page.limit, lambda d: (d.created_at.isoformat(), d.id))
    return Page(items=[document_out(d) for d in documents], next_cursor=cursor)


async def get_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    document = await repository.get_document(session, tenant_id, document_id)
    if document is None:
        raise AppError(404, "document not found")
    return document


async def delete_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> None:
    """The document and its chunks go in one statement: unsearchable at commit."""
    document = await get_document(session, tenant_id, document_id)
    await session.delete(document)
    await repository.bump_corpus_version(session, tenant_id)
    await session.flush()
    log.info("document.deleted", document_id=str(document_id))


async def reindex_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    """Index the stored bytes again (after a parser upgrade or a settings change)."""
    document = await repository.get_document(session, tenant_id, document_id, for_update=True)
    if document is None:
        raise AppError(404, "document not found")
    if document.status == "processing":
        raise AppError(409, "the document is being indexed already")
    document.status = "processing"
    document.error = None
    document.attempts = 0
    document.lease_id = None
    document.leased_until = None
    await add_event(session, outbox, uploaded_event(document))
    await session.flush()
    log.info("document.reindex_requested", document_id=str(document_id))
    return document
