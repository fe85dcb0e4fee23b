"""WhatsApp message templates: synced per channel from its WhatsApp Business Account, checked
against their approved components before a send, rendered for the inbox, and kept current by
Meta's `message_template_status_update` webhooks."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from ingest import repository
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient, GraphError
from ingest.models import Channel, Template

log = structlog.get_logger(__name__)

# `{{1}}` (positional) or `{{first_name}}` (named) in a template's text.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


# --- sync ------------------------------------------------------------------------------------


def _syncable(channel: Channel) -> None:
    if channel.access_token_encrypted is None:
        raise AppError(409, "a sandbox channel has no WhatsApp Business Account to sync from")
    if not channel.waba_id:
        raise AppError(
            409,
            "the channel has no waba_id (WhatsApp Business Account id): templates belong to "
            "the account; connect the number again with its waba_id",
        )


async def fetch_templates(
    graph: GraphClient, cipher: TokenCipher, channel: Channel
) -> list[dict[str, Any]]:
    """The account's templates at Meta, read with the channel's own token."""
    assert channel.waba_id and channel.access_token_encrypted
    return await graph.message_templates(
        waba_id=channel.waba_id, token=cipher.decrypt(channel.access_token_encrypted)
    )


async def store_templates(
    session: AsyncSession, channel: Channel, listed: list[dict[str, Any]]
) -> None:
    """Make the channel's templates what Meta listed: upsert each, drop the ones gone."""
    now = datetime.now(UTC)
    kept: set[tuple[str, str]] = set()
    for item in listed:
        name, language = item.get("name"), item.get("language")
        if not isinstance(name, str) or not isinstance(language, str):
            continue
        components = item.get("components")
        values = {
            "status": str(item.get("status") or "PENDING"),
            "category": _str(item.get("category")),
            "components": components if isinstance(components, list) else [],
            "meta_template_id": _str(item.get("id")),
            "synced_at": now,
        }
        await repository.upsert_template(session, channel, name, language, values)
        kept.add((name, language))
    existing = await repository.template_keys(session, channel.id)
    gone = [row.id for row in existing if (row.name, row.language) not in kept]
    if gone:
        await repository.delete_templates(session, gone)
    await session.flush()
    log.info("templates.synced", channel_id=str(channel.id), count=len(kept), removed=len(gone))


async def sync_channel(
    session: AsyncSession, graph: GraphClient, cipher: TokenCipher, channel: Channel
) -> list[Template]:
    """On demand: 409 when the channel cannot have templates, 503/502 when Meta fails."""
    _syncable(channel)
    try:
        listed = await fetch_templates(graph, cipher, channel)
    except GraphError as error:
        log.warning("templates.sync_failed", channel_id=str(channel.id), error=str(error))
        if error.code is None or error.retryable:
            raise AppError(
                503, f"could not read the templates from Meta right now ({error}); try again"
            ) from error
        raise AppError(502, f"Meta refused to list the templates ({error})") from error
    await store_templates(session, channel, listed)
    return await repository.channel_templates(session, channel.id)


async def sync_after_connect(
    session: AsyncSession, graph: GraphClient, cipher: TokenCipher, channel: Channel
) -> None:
    """Best effort: a live channel is connected even when its templates cannot be read now
    (a sync on demand or the next status webhook fetches them)."""
    if channel.access_token_encrypted is None or not channel.waba_id:
        return
    try:
        listed = await fetch_templates(graph, cipher, channel)
        async with session.begin_nested():
            await store_templates(session, channel, listed)
    except (GraphError, SQLAlchemyError) as error:
        log.warning("templates.connect_sync_failed", channel_id=str(channel.id), error=str(error))


async def tenant_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel:
    channel = await repository.get_channel(session, tenant_id, channel_id)
    if channel is None:
        raise AppError(404, "channel not found")
    return channel


# --- status webhooks -------------------------------------------------------------------------


async def apply_status_update(
    session: AsyncSession,
    graph: GraphClient,
    cipher: TokenCipher,
    waba_id: str | None,
    value: dict[str, Any],
) -> int:
    """Meta's `message_template_status_update`: the template's new status, found by Meta's id
    or by name and language on the account's channels. A template we never synced (created
    after the last sync) makes those channels sync. Returns how many rows changed."""
    event = value.get("event")
    if not isinstance(event, str) or not event:
        log.warning("template_status.without_event", waba_id=waba_id)
        return 0
    meta_id = _str(value.get("message_template_id"))
    name, language = value.get("message_template_name"), value.get("message_template_language")
    if not waba_id:
        log.warning("template_status.without_account", template_id=meta_id)
        return 0
    # Only this account's templates: by Meta's id first, else by name and language.
    changed = 0
    if meta_id:
        changed = await repository.set_template_status_by_meta_id(session, waba_id, meta_id, event)
    if not changed and isinstance(name, str) and isinstance(language, str):
        changed = await repository.set_template_status_by_name(
            session, waba_id, name, language, event
        )
    if changed:
        log.info("template_status.applied", status=event, changed=changed, waba_id=waba_id)
        return changed
    for channel in await repository.live_channels_of_account(session, waba_id):
        # A failure raises: the event is retried by the bus (its claim is rolled back).
        await store_templates(session, channel, await fetch_templates(graph, cipher, channel))
        changed += 1
    log.info("template_status.unknown_template_synced", waba_id=waba_id, channels=changed)
    return changed


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedTemplate:
    components: list[dict[str, Any]]  # Meta's send components, with their parameters
    preview: str  # the text the customer reads (header and body, parameters substituted)


def _component(template: Template, kind: str) -> dict[str, Any] | None:
    for component in template.components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _placeholders(text: str) -> list[str]:
    """The distinct placeholders of a text, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def _text_parameters(
    where: str, text: str, given: list[str] | dict[str, str] | None
) -> tuple[list[dict[str, Any]], str]:
    """Meta's parameters for the placeholders of `text`, and `text` with them filled in;
    422 naming the parameter when `given` does not fit."""
    names = _placeholders(text)
    positional = all(n.isdigit() for n in names)
    if not names:
        if given:
            raise AppError(422, f"{where}: the template takes no parameters here")
        return [], text
    if positional:
        if isinstance(given, dict):
            raise AppError(422, f"{where}: the template's parameters are positional; give a list")
        values = list(given or [])
        expected = max(int(n) for n in names)
        if len(values) != expected:
            missing = f"{where}[{len(values)}] ({{{{{len(values) + 1}}}}}) is missing; "
            raise AppError(
                422,
                (missing if len(values) < expected else f"{where}: ")
                + f"the template takes {expected} parameters, got {len(values)}",
            )
        mapping = {str(i + 1): v for i, v in enumerate(values)}
        params = [{"type": "text", "text": v} for v in values]
        labels = [f"{where}[{i}]" for i in range(len(values))]
    else:
        if not isinstance(given, dict):
            raise AppError(
                422,
                f"{where}: the template's parameters are named ({', '.join(names)}); "
                "give an object",
            )
        for n in names:
            if n not in given:
                raise AppError(422, f"{where}.{n} is missing")
        extra = sorted(set(given) - set(names))
        if extra:
            raise AppError(422, f"{where}.{extra[0]}: the template has no such parameter")
        mapping = {n: given[n] for n in names}
        params = [{"type": "text", "parameter_name": n, "text": given[n]} for n in names]
        labels = [f"{where}.{n}" for n in names]
    for label, param in zip(labels, params, strict=True):
        if not str(param["text"]).strip():
            raise AppError(422, f"{label} is empty")
    rendered = PLACEHOLDER.sub(lambda m: mapping.get(m.group(1), m.group(0)), text)
    return params, rendered


def render(template: Template, parameters: dict[str, Any]) -> RenderedTemplate:
    """Check `parameters` (`{body: [...] | {...}, header?: {text?|link?, filename?}}`) against
    the approved components and build Meta's send components and the preview."""
    components: list[dict[str, Any]] = []
    preview: list[str] = []
    header = _component(template, "HEADER")
    given_header = parameters.get("header")
    if header is None:
        if given_header:
            raise AppError(422, "parameters.header: the template has no header")
    else:
        fmt = str(header.get("format") or "TEXT").upper()
        if fmt in MEDIA_HEADERS:
            kind = MEDIA_HEADERS[fmt]
            link = (given_header or {}).get("link")
            if not link:
                raise AppError(
                    422,
                    f"parameters.header.link is missing: the template's header is an {fmt} "
                    "(give the media's https link)",
                )
            media: dict[str, Any] = {"link": link}
            filename = (given_header or {}).get("filename")
            if kind == "document" and filename:
                media["filename"] = filename
            components.append({"type": "header", "parameters": [{"type": kind, kind: media}]})
            preview.append(f"[{kind}]")
        elif fmt == "TEXT":
            text_given = (given_header or {}).get("text")
            params, rendered = _text_parameters(
                "parameters.header.text", str(header.get("text") or ""), text_given
            )
            if params:
                components.append({"type": "header", "parameters": params})
            if rendered:
                preview.append(rendered)
        elif given_header:
            raise AppError(422, f"parameters.header: a {fmt} header is not supported here")
    body = _component(template, "BODY")
    params, rendered = _text_parameters(
        "parameters.body", str((body or {}).get("text") or ""), parameters.get("body")
    )
    if params:
        components.append({"type": "body", "parameters": params})
    if rendered:
        preview.append(rendered)
    footer = _component(template, "FOOTER")
    if footer and footer.get("text"):
        preview.append(str(footer["text"]))
    return RenderedTemplate(components, "\n\n".join(preview)[:4096] or template.name)


async def approved_template(
    session: AsyncSession, channel_id: uuid.UUID, name: str, language: str
) -> Template:
    """404 for a template the channel does not have; 409 for one Meta has not approved."""
    template = await repository.find_template(session, channel_id, name, language)
    if template is None:
        raise AppError(
            404,
            f"no template {name!r} in language {language!r} on this channel (sync the "
            "templates if it was just created)",
        )
    if template.status != "APPROVED":
        raise AppError(
            409,
            f"template {name!r} ({language}) is {template.status}, not APPROVED: Meta "
            "would refuse it",
        )
    return template


async def prepare_send(
    session: AsyncSession,
    channel_id: uuid.UUID,
    name: str,
    language: str,
    parameters: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    """What a template message stores (`Message.template`) and its preview text."""
    template = await approved_template(session, channel_id, name, language)
    rendered = render(template, parameters)
    stored = {
        "name": name,
        "language": language,
        "parameters": parameters,
        "components": rendered.components,
    }
    return stored, rendered.preview


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
