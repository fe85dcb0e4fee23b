"""Changing a conversation by hand (status, AI on or off), with its event."""

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from ingest import repository
from ingest.models import (
    Contact,
    Conversation,
)
from ingest.settings import IngestSettings
from ingest.summaries import emit_conversation_updated

log = structlog.get_logger(__name__)


async def update_conversation(
    session: AsyncSession,
    settings: IngestSettings,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    ai_enabled: bool | None,
    status: str | None,
    handoff_reason: str | None = None,
) -> tuple[Conversation, Contact]:
    found = await repository.get_conversation(session, tenant_id, conversation_id, lock=True)
    if found is None:
        raise AppError(404, "conversation not found")
    conversation, contact = found
    changed = False
    if ai_enabled is not None and ai_enabled != conversation.ai_enabled:
        conversation.ai_enabled = ai_enabled
        changed = True
    if status is not None and status != conversation.status:
        if status != "resolved":
            # Reopening must not collide with a newer open conversation of the same contact.
            other = await repository.other_active_conversation(session, conversation)
            if other is not None:
                raise AppError(409, "this contact already has an open conversation on the channel")
        conversation.status = status
        conversation.handoff_reason = (
            (handoff_reason or "an agent marked it for a person") if status == "handoff" else None
        )
        changed = True
    if changed:
        repository.touch(conversation)
        await session.flush()
        await emit_conversation_updated(
            session, conversation, contact, settings.service_window_hours
        )
    return conversation, contact
