"""Thin routers: parse, authorise, call the service, return (docs/api.md, ingest)."""

import mimetypes
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from common.auth import CurrentPrincipal, Principal, StreamPrincipal, require_role
from common.db import SessionDep
from common.errors import AppError
from common.events import (
    WhatsAppContact,
    WhatsAppMessageReceivedPayload,
    WhatsAppMessageReceivedV1,
    whatsapp_message_event_id,
)
from common.openapi import errors
from common.outbox import add_event
from common.pagination import Page, PageParams
from common.ratelimit import FixedWindowLimiter, Limit, too_many
from common.text import PgStr
from ingest import channels as channel_setup
from ingest import csat, inbox, inbox_api, outbound, repository, summaries, templates
from ingest.graph import GraphClient
from ingest.models import Channel, Contact, Conversation, Label, Message, Template, outbox
from ingest.schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelPatch,
    ContactBrief,
    ContactOut,
    ContactPatch,
    ConversationOut,
    ConversationPatch,
    LabelBrief,
    MessageCreate,
    MessageOut,
    SimulatedMessage,
    SimulatedOut,
    TemplateList,
    TemplateOut,
    TemplateRef,
)
from ingest.settings import IngestSettings

Manager = Annotated[Principal, require_role("owner", "admin")]
# `me`, `none` or a user id.
ASSIGNEE_PATTERN = r"^(me|none|[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12})$"

channels = APIRouter(prefix="/api/channels", tags=["channels"])
# Using the inbox marks the member online (round-robin assignment).
conversations = APIRouter(
    prefix="/api/conversations", tags=["conversations"], dependencies=[Depends(inbox.seen)]
)
contacts = APIRouter(prefix="/api/contacts", tags=["contacts"])
messages = APIRouter(prefix="/api/messages", tags=["messages"])
events = APIRouter(prefix="/api/events", tags=["events"])


def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


def _graph(request: Request) -> GraphClient:
    graph: GraphClient | None = request.app.state.runtime.graph
    if graph is None:  # only before the runtime started
        raise AppError(503, "the service is starting; try again")
    return graph


def channel_out(channel: Channel) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        phone_number_id=channel.phone_number_id,
        display_phone_number=channel.display_phone_number,
        mode=channel.mode,
        needs_reauth=channel.needs_reauth,
        created_at=channel.created_at,
        reengagement_template=(
            TemplateRef.model_validate(channel.reengagement_template)
            if channel.reengagement_template
            else None
        ),
        auto_reengage=channel.auto_reengage,
    )


def template_list(rows: list[Template]) -> TemplateList:
    return TemplateList(
        items=[
            TemplateOut(
                id=t.id,
                name=t.name,
                language=t.language,
                status=t.status,
                category=t.category,
                components=t.components,
            )
            for t in rows
        ]
    )


def conversation_out(
    conversation: Conversation,
    contact: Contact,
    window_hours: float,
    *,
    unread_count: int | None = None,
    labels: list[Label] | None = None,
) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        channel_id=conversation.channel_id,
        contact=ContactBrief(id=contact.id, wa_id=contact.wa_id, name=contact.name),
        status=conversation.status,
        ai_enabled=conversation.ai_enabled,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        unread_count=conversation.unread_count if unread_count is None else unread_count,
        last_inbound_at=conversation.last_inbound_at,
        handoff_reason=conversation.handoff_reason,
        window_closes_at=summaries.window_closes_at(conversation.last_inbound_at, window_hours),
        assignee_id=conversation.assignee_id,
        csat=csat.rating(conversation),
        labels=[LabelBrief(id=x.id, name=x.name, color=x.color) for x in labels or []],
        version=conversation.version,
    )


async def conversations_out(
    session: SessionDep,
    principal: Principal,
    rows: list[tuple[Conversation, Contact]],
    window_hours: float,
) -> list[ConversationOut]:
    """As the caller sees them: their own unread counts, with each conversation's labels."""
    unread = await inbox.unread_counts(session, principal.user_id, [c for c, _ in rows])
    labels = await inbox.labels_of(session, [c.id for c, _ in rows])
    return [
        conversation_out(c, k, window_hours, unread_count=unread[c.id], labels=labels[c.id])
        for c, k in rows
    ]


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        wamid=message.wamid,
        direction=message.direction,
        author=message.author,
        author_id=message.author_id,
        type=message.type,
        text=message.text,
        media=message.media,
        context=message.context,
        reaction=message.reaction,
        sources=message.sources or [],
        status=message.status,
        error=message.error,
        created_at=message.created_at,
    )


def contact_out(contact: Contact, conversation_count: int) -> ContactOut:
    return ContactOut(
        id=contact.id,
        wa_id=contact.wa_id,
        name=contact.name,
        first_seen_at=contact.first_seen_at,
        last_seen_at=contact.last_seen_at,
        conversation_count=conversation_count,
        notes=contact.notes,
        attributes=contact.attributes or {},
    )


# --- channels --------------------------------------------------------------------------------


@channels.post(
    "/whatsapp",
    status_code=201,
    responses=errors(
        {409: "the number is connected to a business already"},
        {422: "invalid input, or Meta says the token cannot read the number"},
        {503: "Meta cannot be asked now (or the service is starting); nothing stored"},
    ),
)
async def connect_whatsapp(
    body: ChannelCreate, principal: Manager, session: SessionDep, request: Request
) -> ChannelOut:
    """Connect a WhatsApp number. With an access token (live) Meta must confirm that the token
    reads `phone_number_id` and that the number belongs to `waba_id`: 422 when Meta says no,
    503 when Meta cannot be asked; nothing is stored then. Without a token it is a sandbox
    (nothing sent to Meta) and gets a `phone_number_id` of the platform's (`sandbox-…`)."""
    channel = await channel_setup.connect_channel(
        session,
        principal.tenant_id,
        request.app.state.cipher,
        _graph(request),
        phone_number_id=body.phone_number_id,
        display_phone_number=body.display_phone_number,
        waba_id=body.waba_id,
        access_token=body.access_token,
    )
    await templates.sync_after_connect(session, _graph(request), request.app.state.cipher, channel)
    return channel_out(channel)


@channels.get("")
async def list_channels(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[ChannelOut]:
    """The tenant's connected numbers (tokens are never returned)."""
    rows, cursor = await repository.list_channels(session, principal.tenant_id, page)
    return Page(items=[channel_out(c) for c in rows], next_cursor=cursor)


@channels.get("/{channel_id}", responses=errors(404))
async def get_channel(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ChannelOut:
    channel = await repository.get_channel(session, principal.tenant_id, channel_id)
    if channel is None:
        raise AppError(404, "channel not found")
    return channel_out(channel)


@channels.patch(
    "/{channel_id}",
    responses=errors(404, {422: "invalid input, or no such template on the channel"}),
)
async def patch_channel(
    channel_id: uuid.UUID, body: ChannelPatch, principal: Manager, session: SessionDep
) -> ChannelOut:
    """The channel's re-engagement template (`{name, language}`, or null to clear it) and
    `auto_reengage`: whether it goes out by itself when the AI's answer comes after the
    24-hour window closed (otherwise the conversation is handed off to a person)."""
    channel = await templates.tenant_channel(session, principal.tenant_id, channel_id)
    if "reengagement_template" in body.model_fields_set:
        chosen = body.reengagement_template
        if chosen is not None:
            known = await repository.find_template_id(
                session, channel.id, chosen.name, chosen.language
            )
            if known is None:
                raise AppError(
                    422,
                    f"reengagement_template: no template {chosen.name!r} ({chosen.language}) "
                    "on this channel; sync the templates first",
                )
        channel.reengagement_template = chosen.model_dump() if chosen else None
    if body.auto_reengage is not None:
        channel.auto_reengage = body.auto_reengage
    await session.flush()
    return channel_out(channel)


@channels.get("/{channel_id}/templates", responses=errors(404))
async def list_templates(
    channel_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> TemplateList:
    """The channel's message templates as last synced from its WhatsApp Business Account."""
    channel = await templates.tenant_channel(session, principal.tenant_id, channel_id)
    return template_list(await repository.channel_templates(session, channel.id))


@channels.post(
    "/{channel_id}/templates/sync",
    responses=errors(
        404,
        {409: "a sandbox channel, or a channel without waba_id"},
        {502: "Meta refused to list the templates"},
        {503: "Meta cannot be asked now"},
    ),
)
async def sync_templates(
    channel_id: uuid.UUID, principal: Manager, session: SessionDep, request: Request
) -> TemplateList:
    """Read the templates from Meta now; answers the fresh list."""
    channel = await templates.tenant_channel(session, principal.tenant_id, channel_id)
    rows = await templates.sync_channel(session, _graph(request), request.app.state.cipher, channel)
    return template_list(rows)


@channels.delete("/{channel_id}", status_code=204, responses=errors(404))
async def delete_channel(
    channel_id: uuid.UUID, principal: Manager, session: SessionDep
) -> Response:
    """Disconnect a number; its conversations and messages are kept."""
    await channel_setup.delete_channel(session, principal.tenant_id, channel_id)
    return Response(status_code=204)


@channels.post(
    "/{channel_id}/simulate",
    status_code=202,
    responses=errors(404, {409: "not a sandbox channel"}, 429),
)
async def simulate_customer(
    channel_id: uuid.UUID,
    body: SimulatedMessage,
    principal: Manager,
    request: Request,
    session: SessionDep,
) -> SimulatedOut:
    """Play a customer on a sandbox channel: a Meta-shaped message goes through the same
    pipeline as a real webhook (`whatsapp.message.received.v1`). Limited per business per
    minute (429 with Retry-After): each message can cost an AI answer."""
    per_min = _settings(request).simulate_rate_per_min
    limiter: FixedWindowLimiter = request.app.state.rate_limiter
    wait = await limiter.hit([Limit(f"simulate:{principal.tenant_id}", per_min, 60)])
    if wait is not None:
        raise too_many(
            wait, f"too many simulated messages: at most {per_min} a minute; try in {wait} s"
        )
    channel = await repository.get_channel(session, principal.tenant_id, channel_id)
    if channel is None:
        raise AppError(404, "channel not found")
    if channel.mode != "sandbox":
        raise AppError(
            409, "only a sandbox channel (connected without an access token) can be simulated"
        )
    now = datetime.now(UTC).replace(microsecond=0)
    wamid = f"wamid.SIM.{uuid.uuid4().hex}"
    message = {
        "from": body.from_,
        "id": wamid,
        "timestamp": str(int(now.timestamp())),
        "type": "text",
        "text": {"body": body.text},
    }
    await add_event(
        session,
        outbox,
        WhatsAppMessageReceivedV1(
            event_id=whatsapp_message_event_id(wamid),
            payload=WhatsAppMessageReceivedPayload(
                waba_id=channel.waba_id,
                phone_number_id=channel.phone_number_id,
                display_phone_number=channel.display_phone_number,
                wamid=wamid,
                type="text",
                timestamp=now,
                contact=WhatsAppContact(wa_id=body.from_, name=body.name),
                message=message,
            ),
        ),
    )
    return SimulatedOut(wamid=wamid)


# --- conversations ---------------------------------------------------------------------------


@conversations.get("")
async def list_conversations(
    principal: CurrentPrincipal,
    session: SessionDep,
    page: PageParams,
    request: Request,
    status: Annotated[str | None, Query(pattern="^(open|resolved|handoff)$")] = None,
    q: Annotated[
        PgStr | None, Query(max_length=200, description="contact name, number or text")
    ] = None,
    assignee: Annotated[
        str | None,
        Query(pattern=ASSIGNEE_PATTERN, description="`me`, `none` (unassigned) or a user id"),
    ] = None,
    label: Annotated[uuid.UUID | None, Query(description="a label id")] = None,
    contact_id: Annotated[
        uuid.UUID | None, Query(description="one contact's conversations (the contact page)")
    ] = None,
) -> Page[ConversationOut]:
    """Newest activity first; `q` searches the contact's name and number and message text;
    `assignee`, `label` and `contact_id` narrow it. `unread_count` is the caller's own."""
    filters = []
    if contact_id:
        filters.append(Conversation.contact_id == contact_id)
    if assignee:
        filters.append(inbox.assignee_filter(assignee, principal))
    if label:
        filters.append(inbox.label_filter(label))
    rows, cursor = await repository.list_conversations(
        session, principal.tenant_id, page, status=status, q=q or None, filters=filters
    )
    hours = _settings(request).service_window_hours
    return Page(items=await conversations_out(session, principal, rows, hours), next_cursor=cursor)


@conversations.get("/{conversation_id}", responses=errors(404))
async def get_conversation(
    conversation_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> ConversationOut:
    found = await repository.get_conversation(session, principal.tenant_id, conversation_id)
    if found is None:
        raise AppError(404, "conversation not found")
    hours = _settings(request).service_window_hours
    return (await conversations_out(session, principal, [found], hours))[0]


@conversations.patch(
    "/{conversation_id}",
    responses=errors(
        404,
        {409: "the contact has another open conversation on the channel"},
        {422: "invalid input, or the assignee is not a member of the team"},
    ),
)
async def patch_conversation(
    conversation_id: uuid.UUID,
    body: ConversationPatch,
    principal: CurrentPrincipal,
    session: SessionDep,
    request: Request,
) -> ConversationOut:
    """`ai_enabled: false` is the human takeover (the caller is assigned if nobody is);
    `status: "resolved"` closes it; `assignee_id` assigns a team member (null unassigns)."""
    settings = _settings(request)
    found = await inbox.patch_conversation(
        session, settings, principal, conversation_id, body.model_dump(exclude_unset=True)
    )
    return (await conversations_out(session, principal, [found], settings.service_window_hours))[0]


@conversations.get("/{conversation_id}/messages", responses=errors(404))
async def list_messages(
    conversation_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[MessageOut]:
    """Oldest first."""
    if await repository.get_conversation(session, principal.tenant_id, conversation_id) is None:
        raise AppError(404, "conversation not found")
    rows, cursor = await repository.list_messages(
        session, principal.tenant_id, conversation_id, page
    )
    return Page(items=[message_out(m) for m in rows], next_cursor=cursor)


@conversations.post(
    "/{conversation_id}/messages",
    status_code=202,
    responses=errors(
        {404: "no such conversation, or no such template on its channel"},
        {409: "free text outside the 24-hour customer service window, or a template not APPROVED"},
        {422: "invalid input, or template parameters that do not fit the approved template"},
    ),
)
async def send_message(
    conversation_id: uuid.UUID,
    body: MessageCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    request: Request,
) -> MessageOut:
    """An agent's reply: stored as `queued`, then delivered. Free text (`text`) only inside
    the 24-hour window (409 outside it); an approved `template` at any time, its parameters
    checked against the template first (422 naming the parameter). A template message's
    `text` is its rendered preview."""
    text, template = body.text, None
    if body.template is not None:
        found = await repository.get_conversation(session, principal.tenant_id, conversation_id)
        if found is None:
            raise AppError(404, "conversation not found")
        t = body.template
        template, text = await templates.prepare_send(
            session,
            found[0].channel_id,
            t.name,
            t.language,
            t.parameters.model_dump(exclude_none=True),
        )
    assert text is not None
    message = await outbound.queue_outbound(
        session,
        _settings(request),
        principal.tenant_id,
        conversation_id,
        text=text,
        author="agent",
        template=template,
    )
    await inbox.mark_read(session, principal, conversation_id)  # they answered: they read it
    return message_out(message)


# --- contacts --------------------------------------------------------------------------------


@contacts.get("")
async def list_contacts(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[ContactOut]:
    rows, cursor = await repository.list_contacts(session, principal.tenant_id, page)
    return Page(items=[contact_out(c, n) for c, n in rows], next_cursor=cursor)


@contacts.get("/{contact_id}", responses=errors(404))
async def get_contact(
    contact_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ContactOut:
    found = await repository.get_contact(session, principal.tenant_id, contact_id)
    if found is None:
        raise AppError(404, "contact not found")
    return contact_out(*found)


@contacts.patch("/{contact_id}", responses=errors(404))
async def patch_contact(
    contact_id: uuid.UUID, body: ContactPatch, principal: CurrentPrincipal, session: SessionDep
) -> ContactOut:
    """The team's `notes` (null clears them) and custom `attributes` (replaced whole; null or
    `{}` clears them) of the contact; any member may edit them. Absent fields are unchanged."""
    found = await repository.get_contact(session, principal.tenant_id, contact_id)
    if found is None:
        raise AppError(404, "contact not found")
    contact, count = found
    if "notes" in body.model_fields_set:
        contact.notes = body.notes
    if "attributes" in body.model_fields_set:
        contact.attributes = dict(body.attributes or {})
    await session.flush()
    return contact_out(contact, count)


# --- media and live stream -------------------------------------------------------------------

# What media_serving answers with: pictures, sound and clips inline, the rest opaque bytes.
MEDIA_KINDS = ("image/*", "audio/*", "video/*", "application/octet-stream")


@messages.get(
    "/{message_id}/media",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the media's bytes",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in MEDIA_KINDS
            },
        },
        **errors(404),
    },
)
async def get_media(
    message_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> Response:
    """The bytes of an inbound message's image, audio, video, document or sticker."""
    media = await repository.get_media(session, principal.tenant_id, message_id)
    if media is None:
        raise AppError(404, "media not found (not fetched yet, failed, or not this business's)")
    media_type, disposition = media_serving(media.mime_type, message_id)
    # Streamed from the database a few chunks at a time: a file is never whole in memory.
    return StreamingResponse(
        repository.media_chunks(request.app.state.db, message_id),
        media_type=media_type,
        headers={
            "Content-Length": str(media.size_bytes),
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": disposition,
            **MEDIA_SECURITY_HEADERS,
        },
    )


# The customer chose the bytes and declared their type: only media the inbox shows itself
# (photos, stickers, voice notes, clips) is served inline; anything else (HTML, SVG, PDF,
# documents) is a download of opaque bytes. Either way the response is sandboxed: opened
# from the dashboard's origin, no script in it runs with the agent's session.
INLINE_MEDIA_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/3gpp"}
)
MEDIA_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def media_serving(declared: str | None, message_id: uuid.UUID) -> tuple[str, str]:
    """(Content-Type, Content-Disposition) for a customer's media."""
    kind = (declared or "").split(";")[0].strip().lower()
    if kind in INLINE_MEDIA_TYPES or kind.startswith("audio/"):
        return kind, "inline"
    extension = (mimetypes.guess_extension(kind) if kind else None) or ".bin"
    return "application/octet-stream", f'attachment; filename="{message_id}{extension}"'


@events.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the tenant's events, as server-sent events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream(
    principal: StreamPrincipal,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events of the tenant: `message.created`, `message.updated`,
    `conversation.updated`. The token may come as `?access_token=` (EventSource)."""
    settings = _settings(request)
    return StreamingResponse(
        inbox.present_while(
            request.app.state.db,
            principal,
            request.app.state.hub.stream(
                principal.tenant_id, principal.user_id, last_event_id, settings.sse_heartbeat_s
            ),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


routers = [channels, conversations, contacts, messages, events, *inbox_api.routers]
