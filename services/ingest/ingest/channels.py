"""Channels: connecting a business's WhatsApp number (verified with Meta, or a sandbox
number) and disconnecting it. They flush; the caller's unit of work commits."""

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from ingest import repository
from ingest.crypto import TokenCipher
from ingest.graph import GraphClient
from ingest.models import (
    Channel,
)
from ingest.verification import SANDBOX_PREFIX, sandbox_phone_number_id, verify_live_number

log = structlog.get_logger(__name__)


async def connect_channel(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cipher: TokenCipher,
    graph: GraphClient,
    *,
    phone_number_id: str | None,
    display_phone_number: str | None,
    waba_id: str | None,
    access_token: str | None,
) -> Channel:
    """A live channel (with a token) is stored only once Meta confirmed that the token reads
    the number and that the number is the account's; a sandbox gets an id of ours, so it can
    never hold a real number (a client's `phone_number_id` for it is ignored)."""
    verified_at = None
    if access_token:
        if not phone_number_id or phone_number_id.startswith(SANDBOX_PREFIX):
            raise AppError(422, "a live channel needs Meta's phone_number_id")
        # Before any database work: no connection is held while Meta answers.
        verified = await verify_live_number(
            graph, phone_number_id=phone_number_id, waba_id=waba_id, token=access_token
        )
        display_phone_number = verified.display_phone_number or display_phone_number
        verified_at = datetime.now(UTC)
    else:
        phone_number_id = sandbox_phone_number_id()
        waba_id = None
    channel_id = await repository.insert_channel(
        session,
        tenant_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        waba_id=waba_id,
        access_token_encrypted=cipher.encrypt(access_token) if access_token else None,
        verified_at=verified_at,
    )
    if channel_id is None:
        raise AppError(409, "this WhatsApp number is already connected to a business")
    channel = await session.get(Channel, channel_id)
    assert channel is not None
    log.info("channel.connected", channel_id=str(channel.id), mode=channel.mode)
    return channel


async def delete_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> None:
    """Disconnect: the number stops routing here; its conversations and messages stay."""
    channel = await repository.get_channel(session, tenant_id, channel_id)
    if channel is None:
        raise AppError(404, "channel not found")
    channel.deleted_at = datetime.now(UTC)
    await session.flush()
