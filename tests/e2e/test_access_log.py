"""Issue 12, finding 18: `?access_token=` (the SSE fallback the API keeps for EventSource) and
Meta's `hub.verify_token` landed in the access log of `make run`. A real uvicorn process with
its access log on, as `make run` starts it."""

import json
import time

import httpx
import pytest

from wa_testing.plugin import ServiceProcess, TestKeyPair

pytestmark = pytest.mark.e2e
SECRET = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"


def test_tokens_in_query_strings_are_redacted_in_the_access_log(
    amqp_url: str, bus_prefix: str, test_keys: TestKeyPair
) -> None:
    env = {
        "ENVIRONMENT": "test",
        "AMQP_URL": amqp_url,
        "BUS_PREFIX": bus_prefix,
        "WHATSAPP_VERIFY_TOKEN": SECRET,
        "AUTH_JWKS_JSON": json.dumps(test_keys.jwks()),
    }
    gateway = ServiceProcess("gateway.main:create_app", env, access_log=True).start()
    try:
        base = gateway.url
        stream = httpx.get(f"{base}/api/events/stream?access_token={SECRET}&x=1", timeout=5)
        assert stream.status_code == 404  # not the gateway's route; the line is what counts
        challenge = httpx.get(
            f"{base}/api/webhook/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": SECRET, "hub.challenge": "42"},
            timeout=5,
        )
        assert (challenge.status_code, challenge.text) == (200, "42")
        deadline = time.monotonic() + 5
        while "hub.challenge=42" not in gateway.output() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        output = gateway.stop()
    assert "/api/events/stream?access_token=[redacted]&x=1" in output, output[-2000:]
    assert "hub.verify_token=[redacted]&hub.challenge=42" in output, output[-2000:]
    assert SECRET not in output
