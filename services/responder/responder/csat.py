"""CSAT: the settings (`/api/csat`), the decision to ask on each resolution, and the ratings
kept for analytics. The responder decides to ask; ingest sends the question (it knows the
24-hour window: buttons inside it, the template outside it) and hears the answer."""

import uuid
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import (
    ConversationCSATReceivedPayload,
    ConversationSummary,
    CSATRequestedPayload,
    CSATRequestedV1,
)
from common.outbox import add_event
from responder import repository
from responder.models import CSATSettings, outbox
from responder.schemas import CSATSettingsIn, CSATSettingsOut

log = structlog.get_logger(__name__)

DEFAULT_QUESTION = "How would you rate our support?"
# The request's id derives from the resolution: a redelivered update asks nothing twice.
REQUEST_NAMESPACE = uuid.UUID("8a4f1c7e-3b2d-4e9a-bc11-5d6e7f809a1b")


def default_csat(tenant_id: uuid.UUID) -> CSATSettings:
    return CSATSettings(
        tenant_id=tenant_id, enabled=False, question=DEFAULT_QUESTION, template_name=None
    )


def csat_out(row: CSATSettings) -> CSATSettingsOut:
    return CSATSettingsOut(
        enabled=row.enabled, question=row.question, template_name=row.template_name
    )


async def get_csat(session: AsyncSession, tenant_id: uuid.UUID) -> CSATSettings:
    return await session.get(CSATSettings, tenant_id) or default_csat(tenant_id)


async def update_csat(
    session: AsyncSession, tenant_id: uuid.UUID, body: CSATSettingsIn
) -> CSATSettingsOut:
    row = await session.get(CSATSettings, tenant_id)
    if row is None:
        row = default_csat(tenant_id)
        session.add(row)
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field != "template_name":
            raise AppError(422, f"{field}: may not be null")
        setattr(row, field, value)
    await session.flush()
    return csat_out(row)


async def on_conversation_updated(
    session: AsyncSession, tenant_id: uuid.UUID, c: ConversationSummary, at: datetime
) -> None:
    """Remember the status; on a change *to* resolved, ask for a rating (when enabled and the
    customer ever wrote). Later updates of the resolved conversation (a label, the rating
    itself) and older updates arriving late change nothing."""
    previous = await repository.save_conversation_state(session, tenant_id, c.id, c.status, at)
    if previous is None:
        return  # an older update, delivered late
    if c.status != "resolved" or previous.status == "resolved" or c.last_inbound_at is None:
        return
    settings = await get_csat(session, tenant_id)
    if not settings.enabled:
        return
    await add_event(
        session,
        outbox,
        CSATRequestedV1(
            tenant_id=tenant_id,
            payload=CSATRequestedPayload(
                request_id=uuid.uuid5(REQUEST_NAMESPACE, f"{c.id}:{at.isoformat()}"),
                conversation_id=c.id,
                question=settings.question,
                template_name=settings.template_name,
            ),
        ),
    )
    log.info("responder.csat_requested", conversation_id=str(c.id))


async def on_csat_received(
    session: AsyncSession, tenant_id: uuid.UUID, r: ConversationCSATReceivedPayload
) -> None:
    await repository.save_csat_response(session, tenant_id, r)
