"""Thin routers of the team inbox (notes, labels, canned replies, reading, settings) and of a
contact's data (export, erasure). Every member uses them; owners and admins manage labels,
canned replies, the inbox settings and erasure."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from common.auth import CurrentPrincipal, Principal, require_role
from common.db import SessionDep
from common.openapi import errors
from common.pagination import Page, PageParams
from ingest import erasure, inbox, repository
from ingest.models import CannedReply, Label
from ingest.schemas import (
    CannedReplyIn,
    CannedReplyOut,
    ContactExport,
    ConversationLabels,
    ConversationOut,
    InboxSettingsIn,
    InboxSettingsOut,
    LabelCreate,
    LabelOut,
    MessageOut,
    NoteCreate,
)

Manager = Annotated[Principal, require_role("owner", "admin")]

threads = APIRouter(
    prefix="/api/conversations", tags=["conversations"], dependencies=[Depends(inbox.seen)]
)
labels = APIRouter(prefix="/api/labels", tags=["labels"])
canned = APIRouter(prefix="/api/canned-replies", tags=["canned replies"])
settings = APIRouter(prefix="/api/inbox", tags=["inbox"])
contact_data = APIRouter(prefix="/api/contacts", tags=["contacts"])


def label_out(label: Label, count: int) -> LabelOut:
    return LabelOut(
        id=label.id,
        name=label.name,
        color=label.color,
        conversation_count=count,
        created_at=label.created_at,
    )


def canned_out(reply: CannedReply) -> CannedReplyOut:
    return CannedReplyOut(
        id=reply.id,
        shortcut=reply.shortcut,
        text=reply.text,
        created_at=reply.created_at,
        updated_at=reply.updated_at,
    )


# --- in a conversation ------------------------------------------------------------------------


@threads.post("/{conversation_id}/notes", status_code=201, responses=errors(404))
async def add_note(
    conversation_id: uuid.UUID, body: NoteCreate, principal: CurrentPrincipal, session: SessionDep
) -> MessageOut:
    """A private note for the team: listed with the messages (`direction: "internal"`,
    `type: "note"`), streamed live as `message.created`, never sent to WhatsApp."""
    from ingest.api import message_out  # api mounts these routers

    note = await inbox.add_note(session, principal, conversation_id, body.text)
    return message_out(note)


@threads.put(
    "/{conversation_id}/labels", responses=errors(404, {422: "invalid input or unknown labels"})
)
async def put_labels(
    conversation_id: uuid.UUID,
    body: ConversationLabels,
    principal: CurrentPrincipal,
    session: SessionDep,
    request: Request,
) -> ConversationOut:
    """The conversation's labels become exactly `label_ids` (the tenant's labels)."""
    from ingest.api import conversations_out  # api mounts these routers

    found = await inbox.set_labels(session, principal.tenant_id, conversation_id, body.label_ids)
    hours = request.app.state.settings.service_window_hours
    return (await conversations_out(session, principal, [found], hours))[0]


@threads.post("/{conversation_id}/read", status_code=204, responses=errors(404))
async def mark_read(
    conversation_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> Response:
    """The caller has read the conversation: their `unread_count` for it becomes 0 (each
    member has their own)."""
    await inbox.mark_read(session, principal, conversation_id)
    return Response(status_code=204)


# --- labels ---------------------------------------------------------------------------------


@labels.get("")
async def list_labels(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[LabelOut]:
    """By name, each with the number of conversations carrying it."""
    rows, cursor = await repository.list_labels(session, principal.tenant_id, page)
    return Page(items=[label_out(x, n) for x, n in rows], next_cursor=cursor)


@labels.post("", status_code=201, responses=errors({409: "a label of that name exists"}))
async def create_label(body: LabelCreate, principal: Manager, session: SessionDep) -> LabelOut:
    label = await inbox.create_label(session, principal.tenant_id, body.name, body.color)
    return label_out(label, 0)


@labels.delete("/{label_id}", status_code=204, responses=errors(404))
async def delete_label(label_id: uuid.UUID, principal: Manager, session: SessionDep) -> Response:
    """The label goes, and leaves every conversation that carried it."""
    await inbox.delete_label(session, principal.tenant_id, label_id)
    return Response(status_code=204)


# --- canned replies -------------------------------------------------------------------------


@canned.get("")
async def list_canned(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[CannedReplyOut]:
    """By shortcut. A text may hold `{{customer_name}}` and `{{agent_name}}`, which the
    composer fills in when the reply is picked."""
    rows, cursor = await repository.list_canned(session, principal.tenant_id, page)
    return Page(items=[canned_out(r) for r in rows], next_cursor=cursor)


@canned.post("", status_code=201, responses=errors({409: "the shortcut is taken"}))
async def create_canned(
    body: CannedReplyIn, principal: Manager, session: SessionDep
) -> CannedReplyOut:
    reply = await inbox.create_canned(session, principal.tenant_id, body.shortcut, body.text)
    return canned_out(reply)


@canned.put("/{reply_id}", responses=errors(404, {409: "the shortcut is taken"}))
async def update_canned(
    reply_id: uuid.UUID, body: CannedReplyIn, principal: Manager, session: SessionDep
) -> CannedReplyOut:
    reply = await inbox.update_canned(
        session, principal.tenant_id, reply_id, body.shortcut, body.text
    )
    return canned_out(reply)


@canned.delete("/{reply_id}", status_code=204, responses=errors(404))
async def delete_canned(reply_id: uuid.UUID, principal: Manager, session: SessionDep) -> Response:
    await inbox.delete_canned(session, principal.tenant_id, reply_id)
    return Response(status_code=204)


# --- inbox settings -------------------------------------------------------------------------


@settings.get("/settings")
async def get_settings(principal: CurrentPrincipal, session: SessionDep) -> InboxSettingsOut:
    """`round_robin`: a conversation handed off to a person goes to the least busy member
    online (seen in the last few minutes); off by default."""
    found = await inbox.get_settings(session, principal.tenant_id)
    return InboxSettingsOut(round_robin=found.round_robin)


@settings.put("/settings")
async def put_settings(
    body: InboxSettingsIn, principal: Manager, session: SessionDep
) -> InboxSettingsOut:
    await inbox.put_settings(session, principal.tenant_id, round_robin=body.round_robin)
    return InboxSettingsOut(round_robin=body.round_robin)


# --- a contact's data -----------------------------------------------------------------------


@contact_data.get("/{contact_id}/export", responses=errors(404))
async def export_contact(
    contact_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> ContactExport:
    """Everything stored about the contact: profile, conversations, every message (with the
    team's notes)."""
    from ingest.api import contact_out, conversations_out, message_out

    contact, count, conversations, messages = await erasure.contact_data(
        session, principal.tenant_id, contact_id
    )
    return ContactExport(
        contact=contact_out(contact, count),
        conversations=await conversations_out(
            session, principal, conversations, request.app.state.settings.service_window_hours
        ),
        messages=[message_out(m) for m in messages],
    )


@contact_data.delete("/{contact_id}", status_code=204, responses=errors(404))
async def erase_contact(contact_id: uuid.UUID, principal: Manager, session: SessionDep) -> Response:
    """Erase the contact: their conversations, messages and media are deleted here and
    `contact.erased.v1` asks the other services to drop their copies. Not undoable."""
    await erasure.erase_contact(session, principal.tenant_id, contact_id)
    return Response(status_code=204)


routers = [threads, labels, canned, settings, contact_data]
