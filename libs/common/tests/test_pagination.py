import httpx
import pytest
from fastapi import FastAPI

from common.errors import AppError, install_error_handlers
from common.pagination import Page, PageParams, decode_cursor, encode_cursor


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
