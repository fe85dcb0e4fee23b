"""An erased contact (ingest's `contact.erased.v1`): the responder keeps none of their words."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from common.db import Database
from common.events import ContactErasedPayload, ContactErasedV1
from responder.consumers import on_contact_erased
from responder.models import ConversationTurn, Reply


async def test_an_erased_contact_s_replies_lose_their_text_and_keep_their_counts(
    responder_database_url: str,
) -> None:
    db = Database(responder_database_url, pool_size=1)
    tenant, erased, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            for conversation in (erased, kept):
                session.add(
                    Reply(
                        tenant_id=tenant,
                        conversation_id=conversation,
                        message_id=uuid.uuid4(),
                        customer_message_at=now,
                        outcome="handoff",
                        text="Your order 42 ships to Rua Augusta 1",
                        handoff_reason="customer said: my card 4111 was charged twice",
                        sources=[{"filename": "orders.pdf", "score": 0.9}],
                    )
                )
                session.add(ConversationTurn(conversation_id=conversation, tenant_id=tenant))
        event = ContactErasedV1(
            tenant_id=tenant,
            payload=ContactErasedPayload(
                contact_id=uuid.uuid4(), conversation_ids=[erased], message_ids=[]
            ),
        )
        async with db.session() as session:
            await on_contact_erased(session, event)
        async with db.session() as session:
            replies = {
                r.conversation_id: r
                for r in await session.scalars(select(Reply).where(Reply.tenant_id == tenant))
            }
            turns = set(
                await session.scalars(
                    select(ConversationTurn.conversation_id).where(
                        ConversationTurn.tenant_id == tenant
                    )
                )
            )
        gone = replies[erased]
        assert (gone.text, gone.handoff_reason, gone.sources) == (None, None, [])
        assert gone.outcome == "handoff" and gone.customer_message_at == now  # still counted
        assert replies[kept].text == "Your order 42 ships to Rua Augusta 1"
        assert turns == {kept}
    finally:
        await db.dispose()
