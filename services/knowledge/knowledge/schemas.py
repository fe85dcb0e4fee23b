"""HTTP bodies of the knowledge API (docs/api.md, knowledge)."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from knowledge.models import Document


class DocumentOut(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    status: Literal["processing", "indexed", "failed"]
    chunk_count: int
    error: str | None
    language: str | None
    created_at: datetime
    indexed_at: datetime | None


def document_out(document: Document) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        status=document.status,
        chunk_count=document.chunk_count,
        error=document.error,
        language=document.language,
        created_at=document.created_at,
        indexed_at=document.indexed_at,
    )


class SearchResult(BaseModel):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    filename: str
    text: str
    # Calibrated relevance in [0, 1]: below ~0.3 nothing relevant, above ~0.6 a clear match.
    score: float
    page_number: int | None
    section: str | None
    position: int


class SearchResponse(BaseModel):
    results: list[SearchResult]
