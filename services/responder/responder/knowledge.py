"""The knowledge service's internal search, called with the service token."""

import uuid
from dataclasses import dataclass

import httpx
import structlog

from common.auth import INTERNAL_TOKEN_HEADER
from common.logging import CORRELATION_HEADER, get_correlation_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Found:
    chunk_id: uuid.UUID | None
    document_id: uuid.UUID | None
    filename: str
    page: int | None
    section: str | None
    text: str
    score: float

    @property
    def source(self) -> str:
        if self.page is not None:
            return f"{self.filename}, page {self.page}"
        if self.section:
            return f"{self.filename}, {self.section}"
        return self.filename


class KnowledgeUnavailable(Exception):
    pass


class KnowledgeClient:
    def __init__(self, base_url: str, internal_token: str, timeout_s: float = 5.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={INTERNAL_TOKEN_HEADER: internal_token},
            timeout=timeout_s,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def search(self, tenant_id: uuid.UUID, query: str, limit: int) -> list[Found]:
        headers = {CORRELATION_HEADER: cid} if (cid := get_correlation_id()) else {}
        try:
            response = await self._http.get(
                "/internal/search",
                params={"tenant_id": str(tenant_id), "q": query[:1000], "limit": limit},
                headers=headers,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise KnowledgeUnavailable(repr(exc)) from exc
        return [
            Found(
                chunk_id=_uuid(r.get("chunk_id")),
                document_id=_uuid(r.get("document_id")),
                filename=str(r.get("filename") or "document"),
                page=r.get("page_number"),
                section=r.get("section"),
                text=str(r.get("text") or ""),
                score=float(r.get("score") or 0.0),
            )
            for r in response.json().get("results", [])
        ]


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
