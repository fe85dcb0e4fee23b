"""The chat-completions client against a real HTTP server speaking the protocol."""

import time

import pytest
from pydantic import ValidationError

from responder.llm import ChatClient, LLMUnavailable
from responder.settings import ResponderSettings
from wa_testing.fakes import FakeLLM

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def client(llm: FakeLLM, **kwargs: object) -> ChatClient:
    return ChatClient(
        base_url=llm.base_url,
        api_key="sk-test",
        backoff_s=0.01,
        referer="https://example.org",
        title="WA AI",
        **kwargs,
    )  # type: ignore[arg-type]


async def test_a_completion_with_usage_and_attribution_headers(fake_llm: FakeLLM) -> None:
    chat = client(fake_llm)
    result = await chat.complete(MESSAGES, models=["m1"], temperature=0.2, max_tokens=100)
    await chat.close()
    assert result.text == fake_llm.answer
    assert (result.model, result.tokens_in, result.tokens_out) == ("m1", 120, 30)
    [request] = fake_llm.requests
    assert request == {"model": "m1", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 100}
    headers = fake_llm.headers[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["http-referer"] == "https://example.org"
    assert headers["x-title"] == "WA AI"


async def test_429_then_success_is_retried_honouring_retry_after(fake_llm: FakeLLM) -> None:
    fake_llm.failures = [(429, "0.2"), (503, None)]
    chat = client(fake_llm)
    started = time.perf_counter()
    result = await chat.complete(MESSAGES, models=["m1"], temperature=0, max_tokens=10)
    await chat.close()
    assert result.text == fake_llm.answer
    assert len(fake_llm.requests) == 3
    assert time.perf_counter() - started >= 0.2  # waited as told


async def test_a_failing_model_falls_back_to_the_next(fake_llm: FakeLLM) -> None:
    fake_llm.failing_models = {"primary"}
    chat = client(fake_llm, max_attempts=2)
    result = await chat.complete(
        MESSAGES, models=["primary", "backup"], temperature=0, max_tokens=10
    )
    await chat.close()
    assert result.model == "backup"
    assert [r["model"] for r in fake_llm.requests] == ["primary", "primary", "backup"]


async def test_a_dead_llm_raises_after_bounded_attempts(fake_llm: FakeLLM) -> None:
    fake_llm.failing_models = {"m1"}
    chat = client(fake_llm, max_attempts=3)
    with pytest.raises(LLMUnavailable, match="gave up after 3 attempts"):
        await chat.complete(MESSAGES, models=["m1"], temperature=0, max_tokens=10)
    await chat.close()
    assert len(fake_llm.requests) == 3


async def test_a_client_error_is_not_retried(fake_llm: FakeLLM) -> None:
    fake_llm.failures = [(400, None)]
    chat = client(fake_llm)
    with pytest.raises(LLMUnavailable, match="HTTP 400"):
        await chat.complete(MESSAGES, models=["m1"], temperature=0, max_tokens=10)
    await chat.close()
    assert len(fake_llm.requests) == 1


async def test_an_unreachable_llm_is_unavailable() -> None:
    chat = ChatClient(
        base_url="http://127.0.0.1:9/v1", api_key="k", backoff_s=0.01, max_attempts=2, timeout_s=1
    )
    with pytest.raises(LLMUnavailable):
        await chat.complete(MESSAGES, models=["m1"], temperature=0, max_tokens=10)
    await chat.close()


@pytest.mark.parametrize(("deadline", "lease"), [(30.0, 30.0), (0.0, 30.0), (40.0, 30.0)])
def test_the_turn_lease_must_outlive_the_answer_deadline(deadline: float, lease: float) -> None:
    with pytest.raises(ValidationError, match="ANSWER_DEADLINE_S"):
        ResponderSettings(answer_deadline_s=deadline, turn_lease_s=lease)
    assert ResponderSettings().answer_deadline_s < ResponderSettings().turn_lease_s
