"""Who may import whom (docs/architecture.md): a service's own suite (services/<name>/tests)
imports that service only, so it runs, and fails, for that service's reasons alone; flows
across services live in tests/e2e. Shared code (libs/common, libs/testing) imports no service.
A service's main.py is its composition root: no other module of the service imports it (its
consumers get their collaborators as parameters), so there is no cycle through it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


def imported_roots(source: str) -> set[str]:
    """The top-level packages a module imports, wherever the import statement sits."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def imported_modules(source: str) -> set[str]:
    """Every module a module imports by absolute name, `from a import b` counted as both `a`
    and `a.b` (b may be a module), wherever the import statement sits (TYPE_CHECKING too)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def foreign_imports(files: list[Path], allowed: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in files:
        others = (imported_roots(path.read_text()) & set(SERVICES)) - allowed
        if others:
            found[str(path.relative_to(ROOT))] = sorted(others)
    return found


def test_the_services_are_found() -> None:
    assert {"gateway", "auth", "ingest", "knowledge", "responder"} <= set(SERVICES)


def test_the_parser_sees_every_import_form() -> None:
    source = (
        "import gateway.main\n"
        "from ingest.main import create_app\n"
        "def f():\n"
        "    from responder import llm\n"
        "from . import sibling\n"
    )
    assert imported_roots(source) == {"gateway", "ingest", "responder"}


def test_a_service_suite_imports_no_other_service() -> None:
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        files = sorted((ROOT / "services" / service / "tests").rglob("*.py"))
        found |= foreign_imports(files, allowed={service})
    assert found == {}, f"move these to tests/e2e: {found}"


def test_shared_code_imports_no_service() -> None:
    files = sorted((ROOT / "libs").glob("*/*/**/*.py"))
    files = [f for f in files if "egg-info" not in str(f)]
    assert any(f.name == "plugin.py" for f in files)  # libs/testing is looked at too
    assert foreign_imports(files, allowed=set()) == {}


def test_images_install_no_test_code() -> None:
    # An image installs libs/common and its own service; libs/testing (pytest, the fakes) is
    # for the dev venv (the Makefile) alone.
    for service in SERVICES:
        dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
        steps = [line for line in dockerfile.splitlines() if line.startswith(("COPY", "RUN"))]
        assert any("libs/common" in step for step in steps), service
        assert not [s for s in steps if "libs/testing" in s or "[test]" in s or "pytest" in s]
    assert "-e libs/testing" in (ROOT / "Makefile").read_text()


def test_the_module_parser_sees_every_import_form() -> None:
    source = (
        "import ingest.main\n"
        "from responder import main\n"
        "if TYPE_CHECKING:\n"
        "    from knowledge.main import KnowledgeRuntime\n"
    )
    found = imported_modules(source)
    assert {"ingest.main", "responder.main", "knowledge.main"} <= found


def test_no_module_of_a_service_imports_its_composition_root() -> None:
    found: dict[str, str] = {}
    consumers_modules = 0
    for service in SERVICES:
        package = ROOT / "services" / service / service
        root = f"{service}.main"
        for path in sorted(package.rglob("*.py")):
            if path.name == "main.py" and path.parent == package:
                continue
            consumers_modules += path.name == "consumers.py"
            if root in imported_modules(path.read_text()):
                found[str(path.relative_to(ROOT))] = root
    assert consumers_modules >= 3  # ingest, knowledge, responder: the parser saw them
    assert found == {}, f"pass collaborators in from main.py instead: {found}"


# What a migration may import: alembic, SQLAlchemy and the frozen helpers of common.migrations.
MIGRATION_IMPORTS = {"alembic", "sqlalchemy", "collections", "common.migrations", "typing"}


def test_migrations_build_from_frozen_ddl_not_from_live_code() -> None:
    """A migration that created tables from a service's models (or common's live table
    definitions) would build something else once those change: a database built from
    scratch and one upgraded over the years would differ."""
    found: dict[str, list[str]] = {}
    migrations = sorted((ROOT / "services").glob("*/migrations/versions/*.py"))
    for path in migrations:
        modules = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
            if not isinstance(node, ast.ImportFrom) or (node.module and node.level == 0)
        }
        live = {
            m
            for m in modules
            if m and not any(m == ok or m.startswith(ok + ".") for ok in MIGRATION_IMPORTS)
        }
        if live:
            found[str(path.relative_to(ROOT))] = sorted(live)
    assert len(migrations) >= 20  # every service's history: the glob saw them
    assert found == {}, found
    helpers = (ROOT / "libs/common/common/migrations.py").read_text()
    frozen = helpers[helpers.index("def create_messaging_tables") :]
    assert "outbox_table" not in frozen and "processed_events_table" not in frozen
