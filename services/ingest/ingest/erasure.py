"""A contact's data on request (GDPR): everything of theirs as JSON, or erased."""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import ContactErasedPayload, ContactErasedV1
from common.outbox import add_event
from ingest import repository
from ingest.models import (
    Contact,
    Conversation,
    DeliveryAttempt,
    MediaFetchAttempt,
    MediaFile,
    Message,
    PendingStatus,
    outbox,
)


async def contact_data(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Contact, int, list[tuple[Conversation, Contact]], list[Message]]:
    """The contact, their conversations and every message of those, oldest first (the team's
    notes about them included: they are data about the person)."""
    found = await repository.get_contact(session, tenant_id, contact_id)
    if found is None:
        raise AppError(404, "contact not found")
    contact, count = found
    conversations: list[tuple[Conversation, Contact]] = [
        (r[0], r[1])
        for r in (
            await session.execute(
                repository.conversations(tenant_id)
                .where(Conversation.contact_id == contact_id)
                .order_by(Conversation.created_at)
            )
        ).all()
    ]
    messages: list[Message] = list(
        await session.scalars(
            repository.messages(tenant_id)
            .where(Message.conversation_id.in_([c.id for c, _ in conversations]))
            .order_by(Message.created_at, Message.id)
        )
    )
    return contact, count, conversations, messages


async def erase_contact(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    """The contact, their conversations, messages (notes too), media and delivery records go;
    `contact.erased.v1` tells the other services to drop their copies."""
    contact = await session.scalar(
        repository.contacts(tenant_id).where(Contact.id == contact_id).with_for_update()
    )
    if contact is None:
        raise AppError(404, "contact not found")
    conversation_ids = list(
        await session.scalars(
            select(Conversation.id).where(
                Conversation.tenant_id == tenant_id, Conversation.contact_id == contact_id
            )
        )
    )
    rows = (
        await session.execute(
            select(Message.id, Message.wamid).where(
                Message.tenant_id == tenant_id, Message.conversation_id.in_(conversation_ids)
            )
        )
    ).all()
    message_ids = [r.id for r in rows]
    wamids = [r.wamid for r in rows if r.wamid]
    # Children first; media chunks go with their file (ON DELETE CASCADE), labels and read
    # markers with their conversation.
    await session.execute(delete(MediaFile).where(MediaFile.message_id.in_(message_ids)))
    await session.execute(
        delete(MediaFetchAttempt).where(MediaFetchAttempt.message_id.in_(message_ids))
    )
    await session.execute(
        delete(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(message_ids))
    )
    await session.execute(
        delete(PendingStatus).where(
            PendingStatus.tenant_id == tenant_id, PendingStatus.wamid.in_(wamids)
        )
    )
    await session.execute(delete(Message).where(Message.id.in_(message_ids)))
    await session.execute(delete(Conversation).where(Conversation.id.in_(conversation_ids)))
    await session.execute(delete(Contact).where(Contact.id == contact_id))
    await add_event(
        session,
        outbox,
        ContactErasedV1(
            tenant_id=tenant_id,
            payload=ContactErasedPayload(
                contact_id=contact_id, conversation_ids=conversation_ids, message_ids=message_ids
            ),
        ),
    )
