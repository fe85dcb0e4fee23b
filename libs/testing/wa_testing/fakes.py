"""Stand-ins for outside systems, for tests and benchmarks: real HTTP servers on 127.0.0.1.

- `serve_app(app)`: any ASGI app under uvicorn in the current event loop, on a free port.
- `FakeGraphAPI`: Meta's Graph API as far as we use it (send a message or a template, fetch
  media, read a business number and its account's numbers, list the account's templates),
  recording every request and answering Meta's error objects on demand; `GeneratedMedia` is
  a big media file it streams without holding.
- `inbound_examples(sender)`: one message of every inbound type of docs/whatsapp.md.
- `FakeLLM`: an OpenAI-compatible chat-completions API, scriptable failures and slowness included.
"""

import asyncio
import base64
import contextlib
import hashlib
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_app(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) on 127.0.0.1; yields its base URL."""
    port = port or _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="auto"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("server exited at start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class GraphRequest:
    method: str
    path: str
    authorization: str | None
    json: Any
    query: dict[str, str]
    # When it arrived (time.monotonic()), and the wamid a send was accepted with.
    at: float = field(default_factory=time.monotonic)
    wamid: str | None = None
    status_code: int = 200


@dataclass(frozen=True)
class GeneratedMedia:
    """A big media file made up on the fly and streamed, so a test can serve many MiB
    without holding them: `size` bytes, each 64 KiB block filled with its own index.
    `declare_size=False` leaves `file_size` out of the media info (as Meta may), so only
    the download itself can reveal that the file is too big."""

    size: int
    mime: str = "application/octet-stream"
    declare_size: bool = True

    BLOCK = 64 * 1024

    def blocks(self) -> Iterator[bytes]:
        for start in range(0, self.size, self.BLOCK):
            block = (start // self.BLOCK).to_bytes(8, "big") * (self.BLOCK // 8)
            yield block[: min(self.BLOCK, self.size - start)]

    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.digest()


@dataclass(frozen=True)
class _Failure:
    code: int | None  # None: a bare HTTP error without Meta's error object (a proxy, an outage)
    http_status: int
    details: str
    retry_after: str | None = None


@dataclass(frozen=True)
class FakeNumber:
    """A business phone number Meta knows, in its WhatsApp Business Account."""

    phone_number_id: str
    waba_id: str
    display_phone_number: str = "+1 555-010-0000"
    verified_name: str = "Test Business"

    def fields(self, wanted: str | None) -> dict[str, Any]:
        every = {
            "id": self.phone_number_id,
            "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name,
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
        }
        if not wanted:
            return every
        return {k: v for k, v in every.items() if k in wanted.split(",") or k == "id"}


@dataclass
class FakeTemplate:
    """A message template of a WhatsApp Business Account, as Meta lists it."""

    id: str
    waba_id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict[str, Any]]

    def listed(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "components": self.components,
        }

    def body_parameter_count(self) -> int:
        for component in self.components:
            if component.get("type") == "BODY":
                return len(set(_PLACEHOLDER.findall(str(component.get("text", "")))))
        return 0


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Meta's answers to a template send that does not fit (code, title, details).
_TEMPLATE_ERRORS = {
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132015: "Template is Paused",
    132016: "Template has been disabled",
}


# Meta's answer to an interactive message that does not fit its rules.
_INTERACTIVE_ERROR = 131009  # "Parameter value is not valid"


def interactive_error(body: dict[str, Any]) -> str | None:
    """Why Meta refuses an interactive reply-buttons send, else None: a body text of 1-1024
    characters, 1 to 3 buttons of type `reply` with unique ids (<= 256 characters) and
    titles of 1-20 characters."""
    content = body.get("interactive")
    if not isinstance(content, dict) or content.get("type") != "button":
        return "interactive.type must be 'button' (reply buttons)"
    text = (content.get("body") or {}).get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= 1024:
        return "interactive.body.text must be 1-1024 characters"
    buttons = (content.get("action") or {}).get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return "interactive.action.buttons must hold 1 to 3 buttons"
    ids = []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if button.get("type") != "reply" or not isinstance(reply, dict):
            return "each button must be of type 'reply'"
        title, button_id = reply.get("title"), reply.get("id")
        if not isinstance(title, str) or not 1 <= len(title) <= 20:
            return f"button title {title!r} must be 1-20 characters"
        if not isinstance(button_id, str) or not 1 <= len(button_id) <= 256:
            return f"button id {button_id!r} must be 1-256 characters"
        ids.append(button_id)
    if len(set(ids)) != len(ids):
        return "button ids must be unique"
    return None


# Meta's answer to an object the token may not read, or that does not exist (the same words).
_NO_SUCH_OBJECT = (
    "Unsupported get request. Object with ID '{}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation."
)


@dataclass
class FakeGraphAPI:
    """Meta's Graph API on 127.0.0.1: `POST /{phone_number_id}/messages` (a send, or a read
        receipt with the typing indicator), `GET /{media-id}` and the media download URL it hands
        out, `GET /{phone-number-id}` and `GET /{waba-id}/phone_numbers` for the numbers added with
        `add_number`, `GET /{waba-id}/message_templates` (paged) for the templates added with
    `add_template`, whose sends it validates like Meta (132000, 132001, 132015, 132016);
    interactive reply-buttons sends are validated like Meta too (131009: 1-3 buttons, unique
    ids, titles of at most 20 characters);
    `fail_next_template_read` scripts errors to the template list.
    `fail_next(code)` scripts Meta's error answers to sends and media (with a
        Retry-After if asked), `fail_next_http` bare 5xx/429 answers, `fail_next_read` errors to
        read receipts, `fail_next_number_read` errors to the number reads; `send_delay_s` makes
        Meta slow to answer a send it accepted, `on_send` runs when it does.

        `token` sends and reads everything; another token Meta accepts reads only the accounts it
        was granted (`add_number(..., token=)`), and an unknown token gets Meta's code 190."""

    token: str = "EAAG-test-token"
    requests: list[GraphRequest] = field(default_factory=list)
    # Business numbers by phone number id, and the accounts each other token may read.
    numbers: dict[str, FakeNumber] = field(default_factory=dict)
    grants: dict[str, set[str]] = field(default_factory=dict)
    # Media by id: (bytes, MIME type), or a `GeneratedMedia` streamed in blocks.
    media: dict[str, "tuple[bytes, str] | GeneratedMedia"] = field(default_factory=dict)
    # Message templates of every account, in the order they were added.
    templates: list[FakeTemplate] = field(default_factory=list)
    # Downloads being served right now, and the most there ever were at once.
    downloads_in_flight: int = 0
    max_downloads_in_flight: int = 0
    _failures: list[_Failure] = field(default_factory=list)
    _read_failures: list[_Failure] = field(default_factory=list)
    _number_failures: list[_Failure] = field(default_factory=list)
    _template_failures: list[_Failure] = field(default_factory=list)
    # Meta taking its time over a read receipt (recorded once answered).
    read_delay_s: float = 0.0
    # Meta taking its time to answer a send it has accepted (a caller's timeout loses the
    # answer, not the message).
    send_delay_s: float = 0.0
    # Called with each accepted send before it is answered (e.g. to cut the caller's database).
    on_send: Callable[[GraphRequest], Awaitable[None]] | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    base_url: str = ""

    def fail_next(
        self,
        code: int,
        *,
        times: int = 1,
        http_status: int = 400,
        details: str = "",
        retry_after: float | str | None = None,
    ) -> None:
        """The next `times` sends answer Meta's error object with this `code`."""
        after = None if retry_after is None else str(retry_after)
        failure = _Failure(code, http_status, details or f"error {code}", after)
        self._failures.extend([failure] * times)

    def fail_next_http(
        self, http_status: int, *, times: int = 1, retry_after: float | str | None = None
    ) -> None:
        """The next `times` sends answer a bare HTTP error (no Meta error object)."""
        after = None if retry_after is None else str(retry_after)
        self._failures.extend([_Failure(None, http_status, "unavailable", after)] * times)

    def fail_next_read(self, code: int, *, times: int = 1, http_status: int = 400) -> None:
        """The next `times` read receipts answer Meta's error object with this `code`."""
        self._read_failures.extend([_Failure(code, http_status, f"error {code}")] * times)

    def fail_next_number_read(
        self, code: int | None, *, times: int = 1, http_status: int = 400
    ) -> None:
        """The next `times` reads of a number or an account's numbers answer Meta's error
        object with this `code` (None: a bare HTTP error, e.g. 503)."""
        failure = _Failure(code, http_status, "unavailable" if code is None else f"error {code}")
        self._number_failures.extend([failure] * times)

    def fail_next_template_read(
        self, code: int | None, *, times: int = 1, http_status: int = 400
    ) -> None:
        """The next `times` template lists answer Meta's error object with this `code`
        (None: a bare HTTP error, e.g. 503)."""
        failure = _Failure(code, http_status, "unavailable" if code is None else f"error {code}")
        self._template_failures.extend([failure] * times)

    def add_number(
        self,
        phone_number_id: str,
        *,
        waba_id: str = "100000000000001",
        token: str | None = None,
        display_phone_number: str = "+1 555-010-0000",
    ) -> FakeNumber:
        """A number of `waba_id` at Meta; `token` (besides `self.token`) may read that account."""
        number = FakeNumber(phone_number_id, waba_id, display_phone_number)
        self.numbers[phone_number_id] = number
        if token and token != self.token:
            self.grants.setdefault(token, set()).add(waba_id)
        return number

    def add_template(
        self,
        waba_id: str,
        name: str,
        *,
        language: str = "en_US",
        status: str = "APPROVED",
        category: str = "UTILITY",
        body: str = "Hello {{1}}",
        header: dict[str, Any] | None = None,
        components: list[dict[str, Any]] | None = None,
    ) -> FakeTemplate:
        """A template of `waba_id` (a BODY with `body` and an optional HEADER component,
        unless `components` says it all); sends of it are validated like Meta does."""
        if components is None:
            components = [{"type": "HEADER", **header}] if header else []
            components.append({"type": "BODY", "text": body})
        template = FakeTemplate(
            str(uuid.uuid4().int)[:16],  # Meta's ids are unique across accounts
            waba_id,
            name,
            language,
            status,
            category,
            components,
        )
        self.templates.append(template)
        return template

    def interactive_sends(self) -> list[GraphRequest]:
        """Sends of `type: "interactive"` (accepted or not)."""
        return [r for r in self.sends() if (r.json or {}).get("type") == "interactive"]

    def template_sends(self) -> list[GraphRequest]:
        """Sends of `type: "template"` (accepted or not)."""
        return [r for r in self.sends() if (r.json or {}).get("type") == "template"]

    def _template_error(self, phone_number_id: str, body: dict[str, Any]) -> int | None:
        """Meta's code for a template send that does not fit, else None."""
        sent = body.get("template") or {}
        number = self.numbers.get(phone_number_id)
        language = (sent.get("language") or {}).get("code")
        found = next(
            (
                t
                for t in self.templates
                if number is not None
                and t.waba_id == number.waba_id
                and t.name == sent.get("name")
                and t.language == language
            ),
            None,
        )
        if found is None:
            return 132001
        if found.status == "PAUSED":
            return 132015
        if found.status != "APPROVED":
            return 132016
        given = sum(
            len(c.get("parameters") or [])
            for c in sent.get("components") or []
            if c.get("type") == "body"
        )
        return 132000 if given != found.body_parameter_count() else None

    def number_reads(self) -> list[GraphRequest]:
        """Reads of a business number or an account's numbers (a channel's verification)."""
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and (r.path.endswith("/phone_numbers") or r.path.strip("/") in self.numbers)
        ]

    def _may_read(self, token: str, waba_id: str) -> bool:
        return token == self.token or waba_id in self.grants.get(token, set())

    def accepted(self) -> list[GraphRequest]:
        """Sends Meta accepted (a wamid assigned), in the order they arrived."""
        return [r for r in self.sends() if r.wamid is not None]

    def sends(self) -> list[GraphRequest]:
        """Messages sent (read receipts aside)."""
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/messages") and not _is_read(r.json)
        ]

    def read_receipts(self) -> list[GraphRequest]:
        """`status: read` calls (mark as read, with or without the typing indicator)."""
        return [r for r in self.requests if r.method == "POST" and _is_read(r.json)]

    def app(self) -> FastAPI:
        api = FastAPI()

        def authorised(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {self.token}"

        def record(request: Request, body: Any) -> GraphRequest:
            recorded = GraphRequest(
                request.method,
                request.url.path,
                request.headers.get("authorization"),
                body,
                dict(request.query_params),
            )
            self.requests.append(recorded)
            return recorded

        def failure(recorded: GraphRequest, f: _Failure) -> Response:
            recorded.status_code = f.http_status
            headers = {"Retry-After": f.retry_after} if f.retry_after else {}
            if f.code is None:
                return Response("Service Unavailable", f.http_status, headers=headers)
            response = error(f.code, f.http_status, f.details)
            response.headers.update(headers)
            return response

        def bearer(request: Request) -> str | None:
            value = request.headers.get("authorization") or ""
            return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None

        def known_token(token: str | None) -> bool:
            return token == self.token or token in self.grants

        def invalid_token() -> JSONResponse:
            return error(190, 401, "Invalid OAuth access token - Cannot parse access token")

        def no_such_object(object_id: str) -> JSONResponse:
            return error(100, 400, _NO_SUCH_OBJECT.format(object_id), kind="GraphMethodException")

        def error(
            code: int, status: int, details: str, *, kind: str = "OAuthException"
        ) -> JSONResponse:
            return JSONResponse(
                {
                    "error": {
                        "message": f"(#{code}) {details}",
                        "type": kind,
                        "code": code,
                        "error_data": {"messaging_product": "whatsapp", "details": details},
                        "fbtrace_id": "AbCdEf",
                    }
                },
                status_code=status,
            )

        @api.post("/{phone_number_id}/messages")
        async def send(phone_number_id: str, request: Request) -> Response:
            body = await request.json()
            if _is_read(body) and self.read_delay_s:
                await asyncio.sleep(self.read_delay_s)
            recorded = record(request, body)
            if not authorised(request):
                recorded.status_code = 401
                return error(190, 401, "Error validating access token")
            if _is_read(body):
                if self._read_failures:
                    return failure(recorded, self._read_failures.pop(0))
                return JSONResponse({"success": True})
            if self._failures:
                return failure(recorded, self._failures.pop(0))
            if body.get("type") == "template":
                code = self._template_error(phone_number_id, body)
                if code is not None:
                    recorded.status_code = 400
                    return error(code, 400, _TEMPLATE_ERRORS[code])
            if body.get("type") == "interactive":
                why = interactive_error(body)
                if why is not None:
                    recorded.status_code = 400
                    return error(_INTERACTIVE_ERROR, 400, f"Parameter value is not valid: {why}")
            wamid = f"wamid.FAKE{next(self._ids)}"
            recorded.wamid = wamid
            if self.on_send is not None:
                await self.on_send(recorded)
            if self.send_delay_s:
                await asyncio.sleep(self.send_delay_s)
            to = body.get("to")
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": wamid, "message_status": "accepted"}],
                }
            )

        @api.get("/download/{media_id}")
        async def download(media_id: str, request: Request) -> Response:
            record(request, None)
            if not authorised(request):
                return error(190, 401, "Error validating access token")
            if media_id not in self.media:
                return Response(status_code=404)
            item = self.media[media_id]
            if isinstance(item, GeneratedMedia):
                return StreamingResponse(self._counted(item), media_type=item.mime)
            content, mime = item
            return Response(content, media_type=mime)

        @api.get("/{waba_id}/phone_numbers")
        async def account_numbers(waba_id: str, request: Request) -> Response:
            recorded = record(request, None)
            token = bearer(request)
            if not known_token(token):
                return invalid_token()
            if self._number_failures:
                return failure(recorded, self._number_failures.pop(0))
            assert token is not None
            mine = [n for n in self.numbers.values() if n.waba_id == waba_id]
            if not mine or not self._may_read(token, waba_id):
                return no_such_object(waba_id)
            limit = int(request.query_params.get("limit", "25"))
            start = int(base64.b64decode(request.query_params.get("after", "MA==")))
            fields = request.query_params.get("fields")
            page = [n.fields(fields) for n in mine[start : start + limit]]
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(page)).encode()).decode(),
            }
            body: dict[str, Any] = {"data": page, "paging": {"cursors": cursors}}
            if start + limit < len(mine):
                query = f"limit={limit}&after={cursors['after']}"
                if fields:
                    query += f"&fields={fields}"
                body["paging"]["next"] = f"{self.base_url}/{waba_id}/phone_numbers?{query}"
            return JSONResponse(body)

        @api.get("/{waba_id}/message_templates")
        async def message_templates(waba_id: str, request: Request) -> Response:
            recorded = record(request, None)
            token = bearer(request)
            if not known_token(token):
                return invalid_token()
            if self._template_failures:
                return failure(recorded, self._template_failures.pop(0))
            assert token is not None
            known = any(n.waba_id == waba_id for n in self.numbers.values())
            if not known or not self._may_read(token, waba_id):
                return no_such_object(waba_id)
            mine = [t.listed() for t in self.templates if t.waba_id == waba_id]
            return JSONResponse(
                page_of(mine, request, f"{self.base_url}/{waba_id}/message_templates")
            )

        def page_of(items: list[dict[str, Any]], request: Request, url: str) -> dict[str, Any]:
            """Meta's cursor paging: `limit`, `after`, and `paging.next` while more remain."""
            limit = int(request.query_params.get("limit", "25"))
            start = int(base64.b64decode(request.query_params.get("after", "MA==")))
            page = items[start : start + limit]
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(page)).encode()).decode(),
            }
            body: dict[str, Any] = {"data": page, "paging": {"cursors": cursors}}
            if start + limit < len(items):
                query = f"limit={limit}&after={cursors['after']}"
                fields = request.query_params.get("fields")
                if fields:
                    query += f"&fields={fields}"
                body["paging"]["next"] = f"{url}?{query}"
            return body

        @api.get("/{media_id}")
        async def media_info(media_id: str, request: Request) -> Response:
            if media_id in self.numbers:
                return await phone_number(media_id, request)
            recorded = record(request, None)
            if not authorised(request):
                return error(190, 401, "Error validating access token")
            if self._failures:
                return failure(recorded, self._failures.pop(0))
            if media_id not in self.media:
                return error(100, 400, "Invalid parameter")
            item = self.media[media_id]
            if isinstance(item, GeneratedMedia):
                mime, digest, size = item.mime, item.sha256(), item.size
            else:
                mime, digest, size = item[1], hashlib.sha256(item[0]).digest(), len(item[0])
            info = {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/download/{media_id}",
                "mime_type": mime,
                "sha256": base64.b64encode(digest).decode(),
                "file_size": str(size),
                "id": media_id,
            }
            if isinstance(item, GeneratedMedia) and not item.declare_size:
                del info["file_size"]
            return JSONResponse(info)

        async def phone_number(phone_number_id: str, request: Request) -> Response:
            recorded = record(request, None)
            token = bearer(request)
            if not known_token(token):
                return invalid_token()
            if self._number_failures:
                return failure(recorded, self._number_failures.pop(0))
            assert token is not None
            number = self.numbers[phone_number_id]
            if not self._may_read(token, number.waba_id):
                return no_such_object(phone_number_id)
            return JSONResponse(number.fields(request.query_params.get("fields")))

        return api

    async def _counted(self, item: GeneratedMedia) -> AsyncIterator[bytes]:
        self.downloads_in_flight += 1
        self.max_downloads_in_flight = max(self.max_downloads_in_flight, self.downloads_in_flight)
        try:
            for block in item.blocks():
                yield block
                await asyncio.sleep(0)  # interleave with the other downloads
        finally:
            self.downloads_in_flight -= 1

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["FakeGraphAPI"]:
        async with serve_app(self.app()) as url:
            self.base_url = url
            yield self


def _is_read(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status") == "read"


def inbound_examples(
    sender: str, *, prefix: str = "wamid.T", business: str = "15550783881"
) -> dict[str, dict[str, Any]]:
    """One message per inbound type (docs/whatsapp.md), keyed by name; wamids `{prefix}.{name}`."""

    def base(name: str, kind: str, **content: Any) -> dict[str, Any]:
        return {
            "from": sender,
            "id": f"{prefix}.{name}",
            "timestamp": "1767268800",
            "type": kind,
            **content,
        }

    out = f"{prefix}.OUT"
    media = {"mime_type": "image/jpeg", "sha256": "c2hh", "id": "MEDIA1"}
    return {
        "text": base("text", "text", text={"body": "Olá! Têm entregas? 🚚"}),
        "image": base("image", "image", image={**media, "caption": "my receipt 🧾"}),
        "audio": base(
            "audio",
            "audio",
            audio={
                "mime_type": "audio/ogg; codecs=opus",
                "sha256": "x",
                "id": "MEDIA2",
                "voice": True,
            },
        ),
        "video": base(
            "video",
            "video",
            video={"mime_type": "video/mp4", "sha256": "x", "id": "MEDIA3", "caption": "unboxing"},
        ),
        "document": base(
            "document",
            "document",
            document={
                "mime_type": "application/pdf",
                "sha256": "x",
                "id": "MEDIA4",
                "filename": "invoice.pdf",
            },
        ),
        "sticker": base(
            "sticker",
            "sticker",
            sticker={"mime_type": "image/webp", "sha256": "x", "id": "MEDIA5", "animated": False},
        ),
        "location": base(
            "location",
            "location",
            location={
                "latitude": 38.7223,
                "longitude": -9.1393,
                "name": "Loja Baixa",
                "address": "Rua Augusta 1, Lisboa",
            },
        ),
        "contacts": base(
            "contacts",
            "contacts",
            contacts=[
                {
                    "name": {"formatted_name": "Ana Lima", "first_name": "Ana"},
                    "phones": [
                        {"phone": "+351 912 345 678", "wa_id": "351912345678", "type": "CELL"}
                    ],
                }
            ],
        ),
        "button_reply": base(
            "button_reply",
            "interactive",
            context={"from": business, "id": out},
            interactive={
                "type": "button_reply",
                "button_reply": {"id": "confirm", "title": "Confirm"},
            },
        ),
        "list_reply": base(
            "list_reply",
            "interactive",
            context={"from": business, "id": out},
            interactive={
                "type": "list_reply",
                "list_reply": {"id": "slot-9", "title": "9:00 tomorrow", "description": "Lisbon"},
            },
        ),
        "nfm_reply": base(
            "nfm_reply",
            "interactive",
            context={"from": business, "id": out},
            interactive={
                "type": "nfm_reply",
                "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"size": "M"}'},
            },
        ),
        "button": base(
            "button",
            "button",
            context={"from": business, "id": out},
            button={"payload": "STOP_PROMOS", "text": "Stop promotions"},
        ),
        "reaction": base("reaction", "reaction", reaction={"message_id": out, "emoji": "👍"}),
        "reaction_removed": base("reaction_removed", "reaction", reaction={"message_id": out}),
        "order": base(
            "order",
            "order",
            order={
                "catalog_id": "CAT1",
                "text": "for Sunday",
                "product_items": [
                    {
                        "product_retailer_id": "SKU1",
                        "quantity": 2,
                        "item_price": 9.5,
                        "currency": "EUR",
                    }
                ],
            },
        ),
        "system": {
            "from": sender,
            "id": f"{prefix}.system",
            "timestamp": "1767268800",
            "type": "system",
            "system": {
                "body": "User A changed from 1 to 2",
                "wa_id": "2",
                "type": "user_changed_number",
            },
        },
        "referral": base(
            "referral",
            "text",
            text={"body": "Is this still available?"},
            referral={
                "source_url": "https://fb.me/ad",
                "source_id": "AD1",
                "source_type": "ad",
                "headline": "Sale",
                "body": "50% off",
                "media_type": "image",
                "image_url": "https://x/y.jpg",
                "ctwa_clid": "CLID",
            },
        ),
        "reply": base(
            "reply",
            "text",
            text={"body": "answering this one"},
            context={"from": business, "id": out},
        ),
        "forwarded": base(
            "forwarded", "text", text={"body": "look at this"}, context={"forwarded": True}
        ),
        "unsupported": base(
            "unsupported",
            "unsupported",
            errors=[
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ],
            unsupported={"type": "poll_creation"},
        ),
        "future": base("future", "hologram", hologram={"body": "from the future", "depth": 3}),
    }


@dataclass
class FakeLLM:
    """An OpenAI-compatible chat-completions server on 127.0.0.1: answers what it is told,
    fails, dawdles (`delay_s`) or hangs (`hang()`) on demand, and keeps every request it got."""

    answer: str = "We deliver on Sundays from 9 to 13h."
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # Scripted failures, consumed in order: (HTTP status, Retry-After or None).
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    failing_models: set[str] = field(default_factory=set)
    # A slow model: every answer takes this long.
    delay_s: float = 0.0
    # Requests being answered right now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""
    _gate: asyncio.Event | None = None

    def hang(self) -> None:
        """From now on every request waits (its answer withheld) until `release()`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        """Let the waiting requests answer; later ones answer at once again."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self._gate is not None:
                    await self._gate.wait()
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                return self._respond(body)
            finally:
                self.in_flight -= 1

        return app

    def _respond(self, body: dict[str, Any]) -> JSONResponse:
        if body["model"] in self.failing_models:
            return JSONResponse({"error": {"message": "model down"}}, 503)
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return JSONResponse({"error": {"message": "busy"}}, status, headers=headers)
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.answer},
                    }
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
            }
        )
