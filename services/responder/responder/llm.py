"""An OpenAI-compatible chat-completions client (OpenRouter by default), with retries on
429/5xx and timeouts, honouring Retry-After, then a fallback model, then giving up loudly."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMUnavailable(Exception):
    """Every attempt failed: the caller hands the conversation to a person."""


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # as the provider names it
    tokens_in: int
    tokens_out: int
    latency_ms: int
    requested_model: str = ""  # the model asked for (the one on the price list)


class ChatClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        referer: str | None = None,
        title: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        if referer:
            headers["HTTP-Referer"] = referer
        if title:
            headers["X-Title"] = title
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    async def close(self) -> None:
        await self._http.aclose()

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        models: list[str],
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        """Try each model in turn (the tenant's, then the fallback), each with retries."""
        errors: list[str] = []
        for model in models:
            try:
                return await self._with_retries(messages, model, temperature, max_tokens)
            except LLMUnavailable as exc:
                errors.append(f"{model}: {exc}")
                log.warning("llm.model_failed", model=model, error=str(exc))
        raise LLMUnavailable("; ".join(errors))

    async def _with_retries(
        self, messages: list[dict[str, str]], model: str, temperature: float, max_tokens: int
    ) -> Completion:
        body = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.post("chat/completions", json=body)
            except httpx.TransportError as exc:  # timeouts and refused connections
                last = f"{type(exc).__name__}"
                await self._sleep(attempt, None)
                continue
            latency = int((time.perf_counter() - started) * 1000)
            if response.status_code == 200:
                return self._parse(response.json(), model, latency)
            last = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in RETRYABLE:
                raise LLMUnavailable(last)
            await self._sleep(attempt, response.headers.get("retry-after"))
        raise LLMUnavailable(f"gave up after {self.max_attempts} attempts ({last})")

    async def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.max_attempts:
            return
        delay = self.backoff_s * 2 ** (attempt - 1)
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = min(float(retry_after), 30.0)
        await asyncio.sleep(delay)

    @staticmethod
    def _parse(data: dict[str, Any], model: str, latency_ms: int) -> Completion:
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMUnavailable("the response has no choices[0].message.content") from exc
        usage = data.get("usage") or {}
        return Completion(
            text=str(text).strip(),
            model=str(data.get("model") or model),
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            latency_ms=latency_ms,
            requested_model=model,
        )
