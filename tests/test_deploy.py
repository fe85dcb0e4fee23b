"""The deployment files agree with the code and with the documented API.

Parses deploy/docker-compose.yml, deploy/Caddyfile, services/*/Dockerfile and
services/*/railway.json as text: no Docker, Caddy or network needed.
"""

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())["services"]
CADDYFILE = (ROOT / "deploy" / "Caddyfile").read_text()
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
PROXY = "proxy"
# How long Caddy keeps an idle upstream connection for reuse (its `keepalive` default).
CADDY_KEEPALIVE_S = 120

SETTINGS = {
    "gateway": "gateway.settings.GatewaySettings",
    "auth": "auth.settings.AuthSettings",
    "ingest": "ingest.settings.IngestSettings",
    "knowledge": "knowledge.settings.KnowledgeSettings",
    "responder": "responder.settings.ResponderSettings",
}

# Declared for later issues: variables that compose already passes (docs/operations.md names
# them) but that the service's settings do not read yet. Remove an entry once its field exists.
DECLARED_FOR_LATER: dict[str, set[str]] = {}

# Sample public paths of docs/api.md -> the compose service that must answer them.
PUBLIC_PATHS = {
    "/api/webhook/whatsapp": "gateway",
    "/api/auth/register": "auth",
    "/api/auth/login": "auth",
    "/api/auth/me": "auth",
    "/api/team/members": "auth",
    "/api/team/members/42": "auth",
    "/.well-known/jwks.json": "auth",
    "/api/channels": "ingest",
    "/api/channels/whatsapp": "ingest",
    "/api/conversations": "ingest",
    "/api/conversations/42/messages": "ingest",
    "/api/contacts": "ingest",
    "/api/contacts/42": "ingest",
    "/api/events/stream": "ingest",
    "/api/messages/42/media": "ingest",
    "/api/documents": "knowledge",
    "/api/documents/42": "knowledge",
    "/api/knowledge/search": "knowledge",
    "/api/ai/settings": "responder",
    "/api/ai/preview": "responder",
    "/api/prompts": "responder",
    "/api/prompts/42": "responder",
    "/api/analytics/summary": "responder",
    "/": "dashboard",
    "/conversations/42": "dashboard",
}
NOT_ROUTED = ["/internal", "/internal/search", "/INTERNAL/search"]

# Keys documented at docs.railway.com/config-as-code/reference, plus `numReplicas`: that page
# now shows replicas per region (`multiRegionConfig`), older configs use the plain count.
RAILWAY_BUILD_KEYS = {
    "builder",
    "watchPatterns",
    "buildCommand",
    "dockerfilePath",
    "railpackVersion",
    "nixpacksConfigPath",
    "nixpacksPlan",
    "nixpacksVersion",
}
RAILWAY_DEPLOY_KEYS = {
    "startCommand",
    "preDeployCommand",
    "multiRegionConfig",
    "numReplicas",
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "cronSchedule",
    "overlapSeconds",
    "drainingSeconds",
}


def settings_class(service: str) -> type:
    assert service in SETTINGS, f"add {service}'s settings class to SETTINGS in this test"
    module, _, name = SETTINGS[service].rpartition(".")
    return getattr(importlib.import_module(module), name)


def dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def exposed_port(text: str) -> int:
    ports = re.findall(r"^EXPOSE\s+(\d+)\s*$", text, re.MULTILINE)
    assert len(ports) == 1, "a Dockerfile must EXPOSE exactly one port"
    return int(ports[0])


# --- Caddyfile, parsed just enough: named path matchers and the handle blocks ---------------


def _strip_comments(text: str) -> str:
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def _block(text: str, open_brace: int) -> str:
    depth = 0
    for i in range(open_brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_brace + 1 : i]
    raise AssertionError("unbalanced braces in the Caddyfile")


def caddy_handles() -> list[tuple[list[str] | None, str | None, str]]:
    """(path patterns or None, Cookie regexp or None, body) of each top-level `handle`, in
    order; both None is the catch-all."""
    text = _strip_comments(CADDYFILE)
    paths = {
        m.group(1): m.group(2).split()
        for m in re.finditer(r"^\s*(@[\w-]+)\s+path\s+(.+?)\s*$", text, re.MULTILINE)
    }
    cookies = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"^\s*(@[\w-]+)\s+header_regexp\s+Cookie\s+(.+?)\s*$", text, re.MULTILINE
        )
    }
    handles = []
    for m in re.finditer(r"^\s*handle(?:\s+(\S+))?\s*\{", text, re.MULTILINE):
        target = m.group(1)
        patterns, cookie = None, None
        if target is None:
            pass
        elif target.startswith("@"):
            assert target in paths or target in cookies, f"matcher {target} is not understood"
            patterns, cookie = paths.get(target), cookies.get(target)
        else:
            patterns = [target]
        handles.append((patterns, cookie, _block(text, m.end() - 1)))
    return handles


def upstreams(body: str) -> list[tuple[str, int]]:
    dynamic = re.findall(r"dynamic\s+a\s+([\w.-]+)\s+(\d+)", body)
    static = re.findall(r"reverse_proxy\s+(?:https?://)?([\w.-]+):(\d+)", body)
    return [(host, int(port)) for host, port in dynamic + static]


def path_matches(pattern: str, path: str) -> bool:
    # Caddy's path matcher: case-insensitive; '*' at the end is a prefix match.
    pattern, path = pattern.lower(), path.lower()
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def route(path: str, cookie: str = "") -> str:
    """The handle body that serves `path` (named matchers apply in order, as Caddy does);
    without a cookie, exactly one path matcher may claim it."""
    handles = caddy_handles()
    claimed = [
        body
        for patterns, regexp, body in handles
        if (patterns or regexp)
        and (patterns is None or any(path_matches(p, path) for p in patterns))
        and (regexp is None or re.search(regexp, cookie))
    ]
    if not cookie:
        assert len(claimed) <= 1, f"{path} is claimed by more than one handle"
    if claimed:
        return claimed[0]
    fallback = [body for patterns, regexp, body in handles if patterns is None and regexp is None]
    assert len(fallback) == 1, "the Caddyfile needs exactly one catch-all `handle`"
    return fallback[0]


def byte_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([KM]i?B)?", text).groups()
    units = {None: 1, "KB": 10**3, "MB": 10**6, "KiB": 2**10, "MiB": 2**20}
    return int(number) * units[unit]


# --- compose ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_built_from_its_dockerfile(service):
    assert service in COMPOSE, f"deploy/docker-compose.yml has no `{service}` service"
    build = COMPOSE[service]["build"]
    assert build["context"] == ".."
    assert build["dockerfile"] == f"services/{service}/Dockerfile"
    assert (ROOT / build["dockerfile"]).is_file()


def test_only_the_proxy_publishes_host_ports():
    publishing = sorted(name for name, svc in COMPOSE.items() if svc.get("ports"))
    assert publishing == [PROXY], "a published port would stop `--scale` for that service"


@pytest.mark.parametrize("service", SERVICES)
def test_services_wait_for_healthy_infrastructure(service):
    needs = {"rabbitmq"} if service == "gateway" else {"postgres", "rabbitmq"}
    depends = COMPOSE[service].get("depends_on", {})
    assert isinstance(depends, dict), "use the long depends_on form with conditions"
    for dependency in needs:
        assert depends.get(dependency, {}).get("condition") == "service_healthy", dependency
    assert COMPOSE[service].get("restart") == "unless-stopped"
    for infra in ("postgres", "rabbitmq"):
        assert "healthcheck" in COMPOSE[infra]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_env_vars_are_settings_fields(service):
    fields = set(settings_class(service).model_fields)
    environment = COMPOSE[service].get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of `environment`"
    later = DECLARED_FOR_LATER.get(service, set())
    for name, value in environment.items():
        if name in later:
            assert name.lower() not in fields, (
                f"{name} is now a {service} settings field: drop it from DECLARED_FOR_LATER"
            )
            continue
        assert name.lower() in fields, f"{service} has no setting for {name}"
        # A default that reads another shell variable would be a second, undocumented name.
        for referenced in re.findall(r"\$\{(\w+)", str(value or "")):
            assert referenced == name, f"{name} reads ${{{referenced}}}"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_runs_the_service_on_its_port(service):
    text = dockerfile(service)
    port = exposed_port(text)
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.MULTILINE)
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), "run as a non-root user"
    cmd = json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.MULTILINE).group(1))
    assert cmd[:3] == ["uvicorn", "--factory", f"{service}.main:create_app"]
    assert cmd[cmd.index("--port") + 1] == str(port)
    assert {"--proxy-headers", "--no-access-log"} <= set(cmd)
    # Idle connections outlive Caddy's (2 min) and Node's (5 s) reuse of them: a request sent
    # on a connection as uvicorn closes it fails as a 500 at the proxy.
    assert int(cmd[cmd.index("--timeout-keep-alive") + 1]) > CADDY_KEEPALIVE_S
    assert f"http://127.0.0.1:{port}/health" in text.split("HEALTHCHECK", 1)[1]
    assert f"http://127.0.0.1:{port}/health" in " ".join(COMPOSE[service]["healthcheck"]["test"])


def test_local_launchers_keep_idle_connections_as_the_images_do():
    for launcher in ("scripts/run.py", "libs/testing/wa_testing/plugin.py"):
        source = (ROOT / launcher).read_text()
        assert re.search(r'"--timeout-keep-alive",\s*"130"', source), launcher
    for service in SERVICES:
        assert '"--timeout-keep-alive", "130"' in dockerfile(service), service


# --- Caddyfile -------------------------------------------------------------------------------


def test_every_upstream_is_a_compose_service_on_its_exposed_port():
    found = [u for _, _, body in caddy_handles() for u in upstreams(body)]
    assert found
    for host, port in found:
        assert host in COMPOSE, f"upstream {host} is not a compose service"
        built = COMPOSE[host]["build"]["dockerfile"]
        assert port == exposed_port((ROOT / built).read_text()), f"{host}:{port}"


@pytest.mark.parametrize(("path", "service"), PUBLIC_PATHS.items())
def test_public_paths_reach_their_service(path, service):
    assert {host for host, _ in upstreams(route(path))} == {service}


@pytest.mark.parametrize("path", [p for p in PUBLIC_PATHS if p.startswith("/api/")])
def test_the_dashboards_cookie_calls_go_through_the_dashboard(path):
    # Its proxy.ts turns the httpOnly session cookie into the bearer token the services need.
    expected = "gateway" if path.startswith("/api/webhook/") else "dashboard"
    for cookie in ("wa_session=abc", "theme=dark; wa_session=abc"):
        assert {host for host, _ in upstreams(route(path, cookie))} == {expected}
    assert {host for host, _ in upstreams(route(path, "not_wa_session=1"))} == {PUBLIC_PATHS[path]}


def test_the_dashboard_image_serves_its_port():
    text = (ROOT / "dashboard" / "Dockerfile").read_text()
    assert exposed_port(text) == 3000
    assert COMPOSE["dashboard"]["build"] == {"context": "..", "dockerfile": "dashboard/Dockerfile"}
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), "run as a non-root user"
    assert "npm ci" in text and "npm run build" in text
    env = COMPOSE["dashboard"]["environment"]
    for name, service in [("AUTH_URL", "auth"), ("INGEST_URL", "ingest")]:
        assert env[name].startswith(f"http://{service}:")
    assert "profiles" not in COMPOSE["dashboard"]


@pytest.mark.parametrize("path", NOT_ROUTED)
def test_internal_paths_are_not_routed(path):
    for cookie in ("", "wa_session=abc"):
        body = route(path, cookie)
        assert not upstreams(body)
        assert re.search(r"\brespond\s+404\b", body)


def test_webhook_body_limit_leaves_the_gateway_its_own():
    sizes = re.findall(r"max_size\s+(\S+)", route("/api/webhook/whatsapp"))
    gateway_limit = settings_class("gateway").model_fields["webhook_max_bytes"].default
    assert all(byte_size(size) >= max(gateway_limit, 4 * 10**6) for size in sizes)


@pytest.mark.parametrize(
    ("path", "service", "field"),
    [
        ("/api/auth/login", "auth", "max_body_bytes"),
        ("/api/conversations/x/messages", "ingest", "max_body_bytes"),
        ("/api/events/stream", "ingest", "max_body_bytes"),
        ("/api/documents", "knowledge", "max_upload_bytes"),
        ("/api/prompts", "responder", "max_body_bytes"),
    ],
)
def test_every_api_route_caps_bodies_at_the_edge(path, service, field):
    """Issue 12, finding 4: the edge caps bodies too, never below what the service takes."""
    sizes = re.findall(r"max_size\s+(\S+)", route(path))
    assert len(sizes) == 1, f"{path}: no request_body max_size"
    assert byte_size(sizes[0]) >= settings_class(service).model_fields[field].default
    assert byte_size(sizes[0]) <= 2 * settings_class(service).model_fields[field].default


def test_event_stream_is_not_buffered():
    assert re.search(r"flush_interval\s+-1\b", route("/api/events/stream"))


# --- Railway ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_railway_config(service):
    config = json.loads((ROOT / "services" / service / "railway.json").read_text())
    assert config["$schema"] == "https://railway.com/railway.schema.json"
    assert set(config) <= {"$schema", "build", "deploy", "environments"}
    build, deploy = config["build"], config["deploy"]
    assert set(build) <= RAILWAY_BUILD_KEYS and set(deploy) <= RAILWAY_DEPLOY_KEYS
    assert build["builder"] == "DOCKERFILE"
    # Relative to the repository root: the service's Railway root directory stays "/".
    assert build["dockerfilePath"] == f"services/{service}/Dockerfile"
    assert (ROOT / build["dockerfilePath"]).is_file()
    assert deploy["healthcheckPath"] == "/health"
    assert isinstance(deploy["healthcheckTimeout"], int) and deploy["healthcheckTimeout"] > 0
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert isinstance(deploy["restartPolicyMaxRetries"], int)
    assert "startCommand" not in deploy, "the Dockerfile's CMD starts the service"


# --- production by default (no development secret or default login reaches a deployment) ---

ENV_EXAMPLE = (ROOT / "deploy" / ".env.example").read_text()
SECRETS = {
    "INTERNAL_TOKEN",
    "ADMIN_TOKEN",
    "DATABASE_URL",
    "AMQP_URL",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "CHANNEL_TOKEN_KEY",
    "POSTGRES_PASSWORD",
    "RABBITMQ_PASSWORD",
}


def test_compose_runs_production_unless_told_otherwise():
    for service in SERVICES:
        assert COMPOSE[service]["environment"]["ENVIRONMENT"] == "${ENVIRONMENT:-production}"


COMPOSE_TEXT = _strip_comments((ROOT / "deploy" / "docker-compose.yml").read_text())


def test_compose_has_no_default_for_any_secret_or_login():
    text = COMPOSE_TEXT
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required >= SECRETS, f"given a default: {sorted(SECRETS - required)}"
    for default in ("guest:guest", "postgres:postgres", "dev-internal-token", "dev-admin-token"):
        assert default not in text
    for secret in SECRETS:
        assert not re.search(rf"\$\{{{secret}:-", text), f"{secret} has a default"
    # The broker's own login is not RabbitMQ's guest account.
    assert "RABBITMQ_DEFAULT_PASS" in COMPOSE["rabbitmq"]["environment"]


def test_the_env_example_lists_every_required_variable():
    text = COMPOSE_TEXT
    listed = set(re.findall(r"^#?\s*(\w+)=", ENV_EXAMPLE, re.MULTILINE))
    missing = set(re.findall(r"\$\{(\w+):\?", text)) - listed
    assert not missing, f"deploy/.env.example does not list {sorted(missing)}"
    assert re.search(r"^ENVIRONMENT=production$", ENV_EXAMPLE, re.MULTILINE)


def test_the_edge_serves_tls_for_the_configured_domain():
    site = _strip_comments(CADDYFILE).strip().splitlines()[0].removesuffix("{").strip()
    # Caddy's automatic HTTPS for a domain; the `:80` fallback only when set so.
    assert site == "{$SITE_ADDRESS::80}"
    ports = COMPOSE[PROXY]["ports"]
    assert any(p.endswith(":443") for p in ports) and any(p.endswith(":80") for p in ports)
    assert any(v.endswith(":/data") for v in COMPOSE[PROXY]["volumes"]), "certificates persist"
