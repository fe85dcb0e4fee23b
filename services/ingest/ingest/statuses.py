"""Delivery statuses from Meta: applied to our messages only forward, a status that
arrives before its message kept until the message is known."""

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import (
    WhatsAppStatusUpdatedPayload,
)
from ingest import repository
from ingest.summaries import UNKNOWN_NUMBER, emit_status_updated

log = structlog.get_logger(__name__)

# Statuses only move forward. `failed` sits above `sent` (a send that failed) and below
# `delivered`, so a late success for the same wamid still wins (docs/whatsapp.md, "Sending").
STATUS_RANK = {"queued": 0, "sent": 10, "failed": 15, "delivered": 20, "read": 30, "played": 40}


def _status_error(status: dict[str, Any]) -> tuple[str | None, int | None]:
    errors = status.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    error = errors[0]
    code = error.get("code") if isinstance(error.get("code"), int) else None
    error_data = error.get("error_data")
    data = error_data if isinstance(error_data, dict) else {}
    text = error.get("title") or error.get("message") or "failed"
    if data.get("details"):
        text = f"{text}: {data['details']}"
    return (f"{code}: {text}" if code is not None else str(text))[:1000], code


async def apply_status(session: AsyncSession, received: WhatsAppStatusUpdatedPayload) -> bool:
    """Move an outbound message forward; keep a status for an unknown wamid for later.

    Returns True when a stored message changed.
    """
    rank = STATUS_RANK.get(received.status)
    if rank is None:
        log.warning("status.unknown_value", status=received.status)
        return False
    channel = await repository.channel_by_number(session, received.phone_number_id)
    if channel is None:
        UNKNOWN_NUMBER.labels("status").inc()
        log.warning("status.unknown_number", phone_number_id=received.phone_number_id)
        return False
    error, code = _status_error(received.status_object)
    changed = await _advance(
        session, channel.tenant_id, received.wamid, received.status, rank, error, code
    )
    if changed:
        return True
    exists = await repository.message_id_by_wamid(session, channel.tenant_id, received.wamid)
    if exists is None:
        if await _adopt_wamid(session, channel.tenant_id, received, rank, error, code):
            return True
        # Ordering is not guaranteed: the send's response may not be stored yet.
        await repository.keep_pending_status(
            session,
            channel.tenant_id,
            wamid=received.wamid,
            status=received.status,
            rank=rank,
            error=error,
            error_code=code,
        )
        log.info("status.pending", wamid=received.wamid, status=received.status)
    return False


async def _adopt_wamid(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    received: WhatsAppStatusUpdatedPayload,
    rank: int,
    error: str | None,
    code: int | None,
) -> bool:
    """A status for a wamid we never stored that names one of our messages (delivery sends
    its id as `biz_opaque_callback_data`): Meta accepted a send whose answer we never got (a
    timeout, a crash). The message takes the wamid and Meta's status, over the "outcome
    unknown" failure delivery recorded without a wamid."""
    try:
        message_id = uuid.UUID(str(received.status_object.get("biz_opaque_callback_data")))
    except ValueError:
        return False
    failed = received.status == "failed"
    row = await repository.adopt_wamid(
        session,
        tenant_id,
        message_id,
        wamid=received.wamid,
        status=received.status,
        rank=rank,
        error=error if failed else None,
        error_code=code if failed else None,
    )
    if row is None:
        return False
    # The call we could not account for did reach Meta.
    await repository.mark_unaccounted_attempts_sent(session, message_id)
    await emit_status_updated(
        session,
        tenant_id,
        message_id=row.id,
        conversation_id=row.conversation_id,
        wamid=received.wamid,
        status=received.status,
        error=error if failed else None,
        error_code=code if failed else None,
    )
    log.info("delivery.wamid_adopted", message_id=str(message_id), status=received.status)
    return True


async def _advance(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    wamid: str,
    status: str,
    rank: int,
    error: str | None,
    code: int | None,
) -> bool:
    values: dict[str, Any] = {"status": status, "status_rank": rank}
    if status == "failed":
        values |= {"error": error, "error_code": code}
    row = await repository.advance_status(session, tenant_id, wamid, rank, values)
    if row is None:
        return False
    await emit_status_updated(
        session,
        tenant_id,
        message_id=row.id,
        conversation_id=row.conversation_id,
        wamid=wamid,
        status=status,
        error=error if status == "failed" else None,
        error_code=code if status == "failed" else None,
    )
    return True


async def apply_pending_statuses(session: AsyncSession, tenant_id: uuid.UUID, wamid: str) -> None:
    """Statuses that arrived before the wamid was stored: apply the furthest one."""
    pending = await repository.pending_statuses(session, tenant_id, wamid)
    if not pending:
        return
    best = pending[0]
    await _advance(
        session, tenant_id, wamid, best.status, best.status_rank, best.error, best.error_code
    )
    await repository.drop_pending_statuses(session, pending)
