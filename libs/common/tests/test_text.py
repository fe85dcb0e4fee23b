"""common.text: what Postgres cannot store is a validation error, anywhere in a body."""

import pytest
from pydantic import ValidationError

from common.text import InputModel, PgStr, check_text


class Body(InputModel):
    name: str
    tags: list[str] = []
    extra: dict[str, str] | None = None
    query: PgStr | None = None


@pytest.mark.parametrize(
    "data",
    [
        {"name": "a\x00b"},
        {"name": "a\ud800"},
        {"name": "ok", "tags": ["fine", "\x00"]},
        {"name": "ok", "extra": {"k\x00": "v"}},
        {"name": "ok", "extra": {"k": "\udfff"}},
        {"name": "ok", "query": "\x00"},
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate(data)
    [error] = refused.value.errors()
    assert error["loc"][0] in data and error["type"] == "value_error"


def test_ordinary_text_passes_unchanged() -> None:
    text = "Olá 👋 — ¿qué tal? 日本語 \t\n"
    assert check_text(text) == text
    assert Body(name=text, tags=[text], extra={text: text}).name == text
