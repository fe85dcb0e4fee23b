"""Thin routers: parse, authorise, call the service, return."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from common.auth import CurrentPrincipal, InternalCaller, Principal, require_role
from common.db import SessionDep
from common.errors import AppError
from common.openapi import errors
from common.pagination import Page, PageParams
from common.text import PgStr, check_text
from knowledge import documents
from knowledge.schemas import DocumentOut, SearchResponse, document_out
from knowledge.search import Searcher

router = APIRouter(tags=["knowledge"])
internal = APIRouter(tags=["internal"], dependencies=[InternalCaller])

# Agents read and search the knowledge; changing what the AI answers from is for managers.
Manager = Annotated[Principal, require_role("owner", "admin")]
SearchQuery = Annotated[PgStr, Query(min_length=1, max_length=1000, description="the question")]
SearchLimit = Annotated[int, Query(ge=1, le=50)]


def _searcher(request: Request) -> Searcher:
    searcher: Searcher = request.app.state.searcher
    return searcher


@router.post(
    "/api/documents",
    status_code=202,
    response_model=DocumentOut,
    responses={
        403: {"description": "an agent: documents are managed by owners and admins"},
        413: {
            "description": "the file is larger than the limit, or the business's documents"
            " would exceed its quota (their number or their bytes)"
        },
        415: {"description": "not PDF, DOCX, DOC, TXT, Markdown, HTML, CSV or XLSX"},
    },
)
async def upload_document(
    request: Request, session: SessionDep, principal: Manager, file: UploadFile
) -> Response:
    """Store a document and index it in the background (202; poll its status).

    The same bytes uploaded again by the same business are recognised: 202 with the
    existing document (its id and current status), indexed once. The status code stays
    the one docs/api.md gives for every upload, so clients need one path."""
    settings = request.app.state.settings
    if file.size is not None and file.size > settings.max_upload_bytes:
        raise AppError(413, f"the file is larger than {settings.max_upload_bytes} bytes")
    filename = file.filename or "document"
    try:
        check_text(filename)
    except ValueError as exc:  # the title is stored: Postgres refuses NUL
        raise AppError(422, f"filename: {exc}") from exc
    data = await file.read(settings.max_upload_bytes + 1)
    document, _created = await documents.upload_document(
        session, principal.tenant_id, filename, data, settings
    )
    body = document_out(document).model_dump(mode="json")
    return JSONResponse(body, status_code=202)


@router.get("/api/documents", response_model=Page[DocumentOut])
async def list_documents(
    session: SessionDep, principal: CurrentPrincipal, page: PageParams
) -> Page[DocumentOut]:
    """The business's documents, newest first."""
    return await documents.list_documents(session, principal.tenant_id, page)


@router.get("/api/documents/{document_id}", response_model=DocumentOut, responses=errors(404))
async def get_document(
    document_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> DocumentOut:
    """One document with its status, chunk count and error."""
    document = await documents.get_document(session, principal.tenant_id, document_id)
    return document_out(document)


@router.delete("/api/documents/{document_id}", status_code=204, responses=errors(404))
async def delete_document(
    document_id: uuid.UUID, session: SessionDep, principal: Manager
) -> Response:
    """Delete a document; its passages are unsearchable from this response on."""
    await documents.delete_document(session, principal.tenant_id, document_id)
    return Response(status_code=204)


@router.post(
    "/api/documents/{document_id}/reindex",
    status_code=202,
    response_model=DocumentOut,
    responses=errors(404, {409: "the document is being indexed"}),
)
async def reindex_document(
    document_id: uuid.UUID, session: SessionDep, principal: Manager
) -> DocumentOut:
    """Index the stored file again (409 while it is being indexed)."""
    document = await documents.reindex_document(session, principal.tenant_id, document_id)
    return document_out(document)


@router.get("/api/knowledge/search", response_model=SearchResponse)
async def search(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    q: SearchQuery,
    limit: SearchLimit = 5,
) -> SearchResponse:
    """The business's passages that best answer `q`, with a relevance score in [0, 1]."""
    results = await _searcher(request).search(session, principal.tenant_id, q, limit)
    return SearchResponse(results=results)


@internal.get("/internal/search", response_model=SearchResponse)
async def internal_search(
    request: Request,
    session: SessionDep,
    tenant_id: uuid.UUID,
    q: SearchQuery,
    limit: SearchLimit = 5,
) -> SearchResponse:
    """For the responder (service token): the same search for the given tenant."""
    results = await _searcher(request).search(session, tenant_id, q, limit)
    return SearchResponse(results=results)
