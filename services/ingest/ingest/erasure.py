"""A contact's data on request (GDPR): everything of theirs as JSON, or erased."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import ContactErasedPayload, ContactErasedV1
from common.outbox import add_event
from ingest import repository
from ingest.models import Contact, Conversation, Message, outbox


async def contact_data(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Contact, int, list[tuple[Conversation, Contact]], list[Message]]:
    """The contact, their conversations and every message of those, oldest first (the team's
    notes about them included: they are data about the person)."""
    found = await repository.get_contact(session, tenant_id, contact_id)
    if found is None:
        raise AppError(404, "contact not found")
    contact, count = found
    conversations = await repository.contact_conversations(session, tenant_id, contact_id)
    messages = await repository.messages_of_conversations(
        session, tenant_id, [c.id for c, _ in conversations]
    )
    return contact, count, conversations, messages


async def erase_contact(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    """The contact, their conversations, messages (notes too), media and delivery records go;
    `contact.erased.v1` tells the other services to drop their copies."""
    if await repository.lock_contact(session, tenant_id, contact_id) is None:
        raise AppError(404, "contact not found")
    conversation_ids = await repository.contact_conversation_ids(session, tenant_id, contact_id)
    rows = await repository.message_ids_and_wamids(session, tenant_id, conversation_ids)
    message_ids = [r.id for r in rows]
    wamids = [r.wamid for r in rows if r.wamid]
    # Children first; media chunks go with their file (ON DELETE CASCADE), labels and read
    # markers with their conversation.
    await repository.delete_media_files(session, message_ids)
    await repository.delete_media_fetch_attempts(session, message_ids)
    await repository.delete_delivery_attempts(session, message_ids)
    await repository.delete_pending_statuses(session, tenant_id, wamids)
    await repository.delete_messages(session, message_ids)
    await repository.delete_conversations(session, conversation_ids)
    await repository.delete_contact(session, contact_id)
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
