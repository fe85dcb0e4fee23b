"""Text that Postgres can store: no NUL character, no lone surrogate.

Postgres `text` cannot hold U+0000 and asyncpg cannot encode a lone surrogate (JSON allows
`"\\u0000"` and `"\\ud800"`): let through, either is a 500 at the first query. Request models
derive from `InputModel` and query parameters use `PgStr`, so such input is a 422 that names
the field, like any other validation error.
"""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, field_validator


def check_text(value: str) -> str:
    """`value` unchanged, or ValueError saying why Postgres could not store it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _check_tree(value: Any) -> Any:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_tree(key)
            _check_tree(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_tree(item)
    elif isinstance(value, BaseModel):  # nested models check themselves if they are inputs
        pass
    return value


PgStr = Annotated[str, AfterValidator(check_text)]


class InputModel(BaseModel):
    """A request body whose every string (nested in lists and dicts too) Postgres can store."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_tree(value)
