"""Each service's SQL lives in its `repository.py`, where its tenant rule can be audited in
one place: no other module builds a statement or runs one. ORM unit-of-work calls
(`session.get`, `session.delete`, `session.add`, flushes) are the allowed exception;
`models.py` declares the schema (its server defaults are SQL text)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
HOLDERS = {"repository.py", "models.py"}
# What builds or runs a statement.
BUILDERS = {"select", "insert", "update", "delete", "text", "exists", "func", "tuple_", "or_"}
RUNNERS = {"execute", "scalar", "scalars", "stream", "stream_scalars"}


def sql_uses(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"imports {a.name}" for a in node.names if a.name in BUILDERS]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNNERS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ):
            found.append(f"line {node.lineno}: session.{node.func.attr}")
    return found


def test_the_check_sees_statements_and_their_execution() -> None:
    source = (
        "from sqlalchemy import select\n"
        "async def f(session):\n"
        "    await session.execute(select(1))\n"
    )
    assert sql_uses(source) == ["imports select", "line 3: session.execute"]


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_repository_holds_sql(service: str) -> None:
    package = ROOT / "services" / service / service
    offenders = {
        path.name: uses
        for path in sorted(package.glob("*.py"))
        if path.name not in HOLDERS and (uses := sql_uses(path.read_text()))
    }
    assert offenders == {}
