"""Issue 12, finding 4: every route read its whole body, of any size, before auth. Each
service now answers 413 with a JSON error for an oversized body, before parsing and before
auth: at once for a declared Content-Length, while streaming for a chunked body."""

import importlib
from collections.abc import AsyncIterator

import pytest

from wa_testing.plugin import TestKeyPair, running_app, service_settings

MiB = 1024 * 1024
# service -> (a route it parses a body on, its cap there); no credentials are sent.
CASES = {
    "gateway": ("/api/webhook/whatsapp", 4 * MiB),
    "auth": ("/api/auth/login", MiB),
    "ingest": ("/api/channels/whatsapp", MiB),
    "knowledge": ("/api/documents", 25 * MiB + 64 * 1024),
    "responder": ("/api/prompts", MiB),
}


def settings_for(name: str, **values: object) -> object:
    module = importlib.import_module(f"{name}.settings")
    cls = next(
        getattr(module, attr)
        for attr in dir(module)
        if attr.endswith("Settings") and attr != "CommonSettings"
    )
    return service_settings(cls, **values)  # type: ignore[arg-type]


MULTIPART_START = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
)


async def chunks(total: int, size: int = 256 * 1024, first: bytes = b"") -> AsyncIterator[bytes]:
    yield first
    sent = len(first)
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


@pytest.mark.parametrize("name", list(CASES))
async def test_an_oversized_body_is_a_413_before_auth(
    name: str, database_url: str, amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> None:
    path, limit = CASES[name]
    settings = settings_for(
        name, database_url=database_url, amqp_url=amqp_url, bus_prefix=bus_prefix, keys=test_keys
    )
    app = importlib.import_module(f"{name}.main").create_app(settings)
    content_type = "multipart/form-data; boundary=b" if name == "knowledge" else "application/json"
    headers = {"Content-Type": content_type}
    async with running_app(app) as client:
        declared = await client.post(path, content=b"x" * (limit + 1), headers=headers)
        assert declared.status_code == 413, declared.text
        assert declared.json() == {"detail": f"request body larger than {limit} bytes"}

        # A body the route starts parsing (a file part, for the upload), then too much of it.
        first = MULTIPART_START if name == "knowledge" else b""
        streamed = await client.post(path, content=chunks(limit + 1, first=first), headers=headers)
        assert streamed.status_code == 413, streamed.text
        assert "larger than" in streamed.json()["detail"]

        # Any other path of the service: the default cap (a route that does not exist never
        # reads a streamed body; a declared one is refused at once).
        other = await client.post("/api/anything", content=b"x" * (MiB + 1), headers=headers)
        assert other.status_code == 413, other.text

        # At the limit, the body reaches the route (which then refuses it for what it is).
        fits = await client.post(path, content=b"x" * min(limit, 1024), headers=headers)
        assert fits.status_code != 413
