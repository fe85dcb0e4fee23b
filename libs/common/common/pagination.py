"""Lists as docs/api.md describes them: `?limit=` (default 50, max 200), `?cursor=`, and
`{"items": [...], "next_cursor": "<opaque>" | null}`. Cursors are keyset positions
(the sort values of the last item), so pages stay stable while rows are added."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import QueryableAttribute

from common.errors import AppError
from common.openapi import raises

T = TypeVar("T")
SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageQuery:
    limit: int
    cursor: str | None


@raises(400)  # a cursor that is not one of ours
def _page_query(
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> PageQuery:
    return PageQuery(limit=limit, cursor=cursor)


PageParams = Annotated[PageQuery, Depends(_page_query)]


def encode_cursor(*values: Any) -> str:
    """An opaque cursor from the last item's sort values (JSON-able: str, int, ISO dates)."""
    raw = json.dumps([v if isinstance(v, int | float | None) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The sort values back; 400 when the cursor is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise AppError(400, "invalid cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise AppError(400, "invalid cursor")
    return values


def trim_page(
    rows: Sequence[T], limit: int, key: Callable[[T], tuple[Any, ...]]
) -> tuple[list[T], str | None]:
    """Rows fetched with `limit + 1`: the page, and the cursor of its last row if more follow."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1]))


def _cursor_value(column: QueryableAttribute[Any], value: Any) -> Any:
    """A cursor's value as its column's Python type (400 when it is not one)."""
    kind = column.expression.type.python_type
    try:
        if kind is datetime:
            return datetime.fromisoformat(str(value))
        if kind is uuid.UUID:
            return uuid.UUID(str(value))
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise AppError(400, "invalid cursor") from exc


def keyset(
    stmt: SelectT, page: PageQuery, *columns: QueryableAttribute[Any], descending: bool = False
) -> SelectT:
    """`stmt` as one page of a keyset list: the rows after `page.cursor` in the order of
    `columns` (the sort values, a unique one last: usually the id), one more than the page
    so that `trim_page` knows whether another follows. Every list of every service pages
    this way: stable while rows are added, and one index range scan per page."""
    if page.cursor:
        values = [
            _cursor_value(c, v)
            for c, v in zip(columns, decode_cursor(page.cursor, len(columns)), strict=True)
        ]
        position = tuple_(*columns)
        bound = tuple_(*values)
        stmt = stmt.where(position < bound if descending else position > bound)
    order = [c.desc() for c in columns] if descending else list(columns)
    return stmt.order_by(*order).limit(page.limit + 1)
