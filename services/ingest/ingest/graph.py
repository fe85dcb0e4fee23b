"""Meta's Graph API: send a message (text or template), fetch a media file, read a business
number and its account's numbers (to prove a token's claim), list the account's templates.
One pooled httpx client per process.

Errors are classified by Meta's `code` (docs/whatsapp.md, "Sending"), never by the HTTP
status alone.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

# Codes worth another try later (throughput, pair rate, WABA rate, unknown, downtime…).
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133016})
# The channel's token is expired or revoked: a person must connect it again.
REAUTH_CODES = frozenset({190})
# Transport failures that happen before the request leaves: nothing reached Meta.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class GraphError(Exception):
    """A failed call: Meta's code and details when it answered, else the transport's reason."""

    def __init__(
        self,
        reason: str,
        code: int | None = None,
        http_status: int | None = None,
        *,
        retry_after_s: float | None = None,
        maybe_sent: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.http_status = http_status
        # Meta's (or a proxy's) Retry-After: no new try before this many seconds.
        self.retry_after_s = retry_after_s
        # No answer after the request may have reached Meta (a read timeout, a dropped
        # connection): Meta may have accepted it, and it has no idempotency key.
        self.maybe_sent = maybe_sent

    @property
    def retryable(self) -> bool:
        if self.code is not None:
            return self.code in RETRYABLE_CODES
        # No Meta error object: a timeout, a dropped connection or a 5xx/429 from a proxy.
        return self.http_status is None or self.http_status >= 500 or self.http_status == 429

    @property
    def needs_reauth(self) -> bool:
        return self.code in REAUTH_CODES

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}" if self.code is not None else self.reason


def retry_after_seconds(value: str | None) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_from(response: httpx.Response) -> GraphError:
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        error_data = error.get("error_data")
        data = error_data if isinstance(error_data, dict) else {}
        details = data.get("details") or error.get("message") or "Graph API error"
        return GraphError(
            str(details)[:500], error["code"], response.status_code, retry_after_s=retry_after
        )
    return GraphError(
        f"Graph API answered HTTP {response.status_code}",
        None,
        response.status_code,
        retry_after_s=retry_after,
    )


class GraphClient:
    def __init__(self, base_url: str, *, timeout_s: float, max_connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send_text(
        self,
        *,
        phone_number_id: str,
        token: str,
        to: str,
        text: str,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> str:
        """POST /{phone_number_id}/messages; returns the wamid Meta assigned. `callback_data`
        comes back in the message's status webhooks (`biz_opaque_callback_data`)."""
        body: dict[str, Any] = {"type": "text", "text": {"preview_url": False, "body": text}}
        if reply_to:
            body["context"] = {"message_id": reply_to}
        return await self._send(phone_number_id, token, to, body, callback_data)

    async def send_interactive(
        self,
        *,
        phone_number_id: str,
        token: str,
        to: str,
        interactive: dict[str, Any],
        callback_data: str | None = None,
    ) -> str:
        """An interactive message (reply buttons), inside the 24-hour window only."""
        body = {"type": "interactive", "interactive": interactive}
        return await self._send(phone_number_id, token, to, body, callback_data)

    async def send_template(
        self,
        *,
        phone_number_id: str,
        token: str,
        to: str,
        name: str,
        language: str,
        components: list[dict[str, Any]],
        callback_data: str | None = None,
    ) -> str:
        """A template message (the only kind Meta delivers outside the 24-hour window)."""
        template: dict[str, Any] = {
            "name": name,
            "language": {"code": language, "policy": "deterministic"},
        }
        if components:
            template["components"] = components
        body = {"type": "template", "template": template}
        return await self._send(phone_number_id, token, to, body, callback_data)

    async def _send(
        self,
        phone_number_id: str,
        token: str,
        to: str,
        content: dict[str, Any],
        callback_data: str | None,
    ) -> str:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            **content,
        }
        if callback_data:
            body["biz_opaque_callback_data"] = callback_data
        response = await self._request(
            "POST", f"{self.base_url}/{phone_number_id}/messages", token, json=body
        )
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GraphError("Graph API answered without a message id", None, 200) from exc

    async def message_templates(
        self, *, waba_id: str, token: str, max_pages: int = 50
    ) -> list[dict[str, Any]]:
        """GET /{waba_id}/message_templates, every page: the account's templates."""
        return await self._all_pages(
            f"{self.base_url}/{waba_id}/message_templates",
            token,
            {"fields": "id,name,language,status,category,components", "limit": "100"},
            max_pages,
        )

    async def mark_read(
        self,
        *,
        phone_number_id: str,
        token: str,
        wamid: str,
        typing: bool = True,
        timeout_s: float | None = None,
    ) -> None:
        """Mark `wamid` (and the earlier messages) read; `typing` shows the typing indicator
        until we reply or for 25 s (docs/whatsapp.md, "Sending")."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        extra: dict[str, Any] = {"timeout": timeout_s} if timeout_s is not None else {}
        await self._request(
            "POST", f"{self.base_url}/{phone_number_id}/messages", token, json=body, **extra
        )

    @contextlib.asynccontextmanager
    async def open_media(
        self, *, media_id: str, phone_number_id: str, token: str, max_bytes: int
    ) -> AsyncIterator["MediaDownload"]:
        """GET /{media-id} for a short-lived URL, then open the download (same bearer). The
        body is read by `MediaDownload.chunks`, never whole: memory stays one chunk."""
        info = await self._request(
            "GET",
            f"{self.base_url}/{media_id}",
            token,
            params={"phone_number_id": phone_number_id},
        )
        meta = info.json()
        url = meta.get("url") if isinstance(meta, dict) else None
        if not url:
            raise GraphError("media info without a url", None, info.status_code)
        declared = meta.get("file_size")
        if declared is not None and str(declared).isdigit() and int(declared) > max_bytes:
            raise GraphError(_too_large(max_bytes), None, 413)
        try:
            async with self._client.stream(
                "GET", url, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _error_from(response)
                mime = response.headers.get("content-type") or meta.get("mime_type")
                yield MediaDownload(response, mime, max_bytes)
        except httpx.HTTPError as exc:
            raise GraphError(f"media download failed: {type(exc).__name__}") from exc

    async def phone_number(self, *, phone_number_id: str, token: str) -> dict[str, Any]:
        """GET /{phone_number_id}: Meta answers only a token that may read that number."""
        response = await self._request(
            "GET",
            f"{self.base_url}/{phone_number_id}",
            token,
            params={"fields": "id,display_phone_number,verified_name"},
        )
        return _json_object(response)

    async def account_phone_number_ids(
        self, *, waba_id: str, token: str, max_pages: int = 20
    ) -> set[str]:
        """GET /{waba_id}/phone_numbers, every page: the ids of the account's numbers."""
        numbers = await self._all_pages(
            f"{self.base_url}/{waba_id}/phone_numbers",
            token,
            {"fields": "id", "limit": "100"},
            max_pages,
        )
        return {str(n["id"]) for n in numbers if "id" in n}

    async def _all_pages(
        self, url: str, token: str, params: dict[str, str], max_pages: int
    ) -> list[dict[str, Any]]:
        """A Graph list, following `paging.next` (the whole URL of the next page, its query
        included) for at most `max_pages` pages."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        query: dict[str, str] | None = params
        for _ in range(max_pages):
            if next_url is None:
                break
            page = _json_object(await self._request("GET", next_url, token, params=query))
            data = page.get("data")
            if not isinstance(data, list):
                raise GraphError("Graph API answered a list without data", None, 200)
            items.extend(item for item in data if isinstance(item, dict))
            paging = page.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            query = None
        return items

    async def _request(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except _NOT_SENT as exc:
            raise GraphError(f"Graph API unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise GraphError(
                f"Graph API did not answer: {type(exc).__name__}", maybe_sent=True
            ) from exc
        if response.status_code >= 300:
            raise _error_from(response)
        return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphError("Graph API answered something that is not a JSON object", None, 200)
    return body


def _too_large(max_bytes: int) -> str:
    return f"media larger than {max_bytes} bytes"


class MediaDownload:
    """An open media download: its MIME type and its body, read in pieces."""

    def __init__(self, response: httpx.Response, mime: str | None, max_bytes: int) -> None:
        self.mime = mime
        self.size = 0
        self._response = response
        self._max_bytes = max_bytes

    async def chunks(self, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The body in pieces of `chunk_bytes` (the last one shorter). Past `max_bytes` it
        raises (a file may come without its size, or with a wrong one) before the piece
        that crosses the cap is handed out."""
        async for chunk in self._response.aiter_bytes(chunk_bytes):
            self.size += len(chunk)
            if self.size > self._max_bytes:
                raise GraphError(_too_large(self._max_bytes), None, 413)
            yield chunk


class RateLimiter:
    """Spaces calls per key (a phone number) to at most `rate` per second, in this process,
    and holds a key back while Meta asked for a pause (Retry-After)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    def pause(self, key: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._paused_until[key] = max(until, self._paused_until.get(key, 0.0))

    def paused_for(self, key: str) -> float:
        """Seconds left of the key's pause (0 when none)."""
        left = self._paused_until.get(key, 0.0) - time.monotonic()
        if left <= 0:
            self._paused_until.pop(key, None)
            return 0.0
        return left

    def take_now(self, key: str) -> bool:
        """The key's next slot, if it is free now (without waiting): True when taken."""
        if self.paused_for(key) > 0:
            return False
        if not self.interval:
            return True
        now = time.monotonic()
        if self._next.get(key, now) > now:
            return False
        self._next[key] = now + self.interval
        return True

    async def wait(self, key: str) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
