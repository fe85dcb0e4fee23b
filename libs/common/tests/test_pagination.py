import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import DateTime, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import Database, make_metadata
from common.errors import AppError, install_error_handlers
from common.pagination import (
    Page,
    PageParams,
    PageQuery,
    decode_cursor,
    encode_cursor,
    keyset,
    trim_page,
)


def test_a_cursor_round_trips_its_values() -> None:
    cursor = encode_cursor("2026-01-01T00:00:00+00:00", "a1b2")
    assert "2026" not in cursor  # opaque to clients
    assert decode_cursor(cursor, 2) == ["2026-01-01T00:00:00+00:00", "a1b2"]


@pytest.mark.parametrize("bad", ["!!!", encode_cursor("only-one"), "bm90IGpzb24"])
def test_a_foreign_cursor_is_a_400(bad: str) -> None:
    with pytest.raises(AppError) as caught:
        decode_cursor(bad, 2)
    assert caught.value.status_code == 400


async def test_limit_defaults_to_50_and_is_capped_at_200() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things")
    async def things(page: PageParams) -> Page[int]:
        return Page(items=list(range(page.limit)), next_cursor=page.cursor)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert len((await client.get("/things")).json()["items"]) == 50
        assert (await client.get("/things?limit=200&cursor=x")).json()["next_cursor"] == "x"
        assert (await client.get("/things?limit=201")).status_code == 422
        assert (await client.get("/things?limit=0")).status_code == 422


class _Base(DeclarativeBase):
    metadata = make_metadata("common_test")


class _Row(_Base):
    __tablename__ = "keyset_rows"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def _pages(db: Database, limit: int, *, descending: bool) -> list[list[uuid.UUID]]:
    pages: list[list[uuid.UUID]] = []
    cursor: str | None = None
    while True:
        async with db.sessionmaker() as s:
            query = keyset(select(_Row), PageQuery(limit, cursor), _Row.at, _Row.id,
                           descending=descending)  # fmt: skip
            rows, cursor = trim_page(list(await s.scalars(query)), limit, lambda r: (r.at, r.id))
        pages.append([r.id for r in rows])
        if cursor is None:
            return pages


async def test_keyset_pages_every_row_once_in_order_ties_included(db: Database) -> None:
    """Rows that share a sort value (many messages in one second) are neither skipped nor
    repeated at a page boundary: the id breaks the tie, in both directions."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
        await conn.execute(delete(_Row.__table__))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [_Row(id=uuid.uuid4(), at=start + timedelta(seconds=i // 3)) for i in range(10)]
    async with db.sessionmaker() as s, s.begin():
        s.add_all(rows)
    ascending = sorted(rows, key=lambda r: (r.at, r.id))

    pages = await _pages(db, 4, descending=False)
    assert [len(p) for p in pages] == [4, 4, 2]
    assert [i for p in pages for i in p] == [r.id for r in ascending]
    newest_first = await _pages(db, 3, descending=True)
    assert [i for p in newest_first for i in p] == [r.id for r in reversed(ascending)]

    # A cursor whose values are not the columns' types is the client's error, not ours.
    for bad in (encode_cursor("yesterday", str(uuid.uuid4())), encode_cursor(start, "x")):
        with pytest.raises(AppError) as caught:
            keyset(select(_Row), PageQuery(4, bad), _Row.at, _Row.id)
        assert caught.value.status_code == 400
