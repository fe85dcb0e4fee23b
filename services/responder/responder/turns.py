"""The answering pipeline: a customer message in, at most one reply per turn out.

A burst is answered once: each message records itself as the conversation's latest, waits the
quiet period, and only the latest one goes on. The answer is composed under a row lock on the
conversation's turn, so two replicas (or a redelivery) never both reply.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import Database
from common.events import (
    ConversationMessageStoredPayload,
    HandoffRequestedPayload,
    HandoffRequestedV1,
    HistoryItem,
    ReplyGeneratedPayload,
    ReplyGeneratedV1,
    ReplyPreparingPayload,
    ReplyPreparingV1,
    ReplySource,
)
from common.outbox import add_event
from responder.answer import Answerer, Outcome, TurnInput
from responder.models import ConversationTurn, Reply, TrackedMessage, outbox
from responder.prompts import Turn
from responder.service import business_name, effective_settings, template_for

log = structlog.get_logger(__name__)

# Messages that never prompt an answer (WHATSAPP.md §4: non-prompting events).
SILENT_TYPES = frozenset({"reaction", "system", "unsupported", "order", "unknown", "ephemeral"})


async def track(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> None:
    m = p.message
    await session.execute(
        insert(TrackedMessage)
        .values(
            message_id=m.id,
            tenant_id=tenant_id,
            conversation_id=p.conversation_id,
            direction=m.direction,
            author=m.author,
            created_at=m.created_at,
        )
        .on_conflict_do_nothing()
    )


def wants_answer(p: ConversationMessageStoredPayload) -> bool:
    m = p.message
    return (
        m.direction == "inbound"
        and m.author == "customer"
        and p.ai_enabled
        and p.conversation_status != "handoff"
        and m.type not in SILENT_TYPES
    )


async def mark_latest(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> None:
    """The latest customer message of the conversation wins (by time, then arrival)."""
    table = ConversationTurn.__table__
    statement = insert(ConversationTurn).values(
        conversation_id=p.conversation_id,
        tenant_id=tenant_id,
        latest_message_id=p.message.id,
        latest_at=p.message.created_at,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={
                "latest_message_id": statement.excluded.latest_message_id,
                "latest_at": statement.excluded.latest_at,
            },
            where=(table.c.latest_at.is_(None))
            | (table.c.latest_at <= statement.excluded.latest_at),
        )
    )


def split_history(
    p: ConversationMessageStoredPayload, turn: ConversationTurn, window: int
) -> tuple[list[str], list[Turn]]:
    """(the customer's unanswered messages, the earlier conversation within the window)."""
    items: Sequence[HistoryItem] = [
        h for h in p.history if turn.memory_reset_at is None or h.created_at > turn.memory_reset_at
    ]
    unanswered: list[str] = []
    cut = len(items)
    while cut > 0 and items[cut - 1].direction == "inbound":
        cut -= 1
    unanswered = [h.text for h in items[cut:] if h.text]
    if p.message.text:
        unanswered.append(p.message.text)
    earlier = [
        Turn("customer" if h.direction == "inbound" else "assistant", h.text)
        for h in items[:cut]
        if h.text
    ]
    return unanswered, earlier[-window:] if window else []


# Publishes `reply.preparing.v1` (confirmed); see `TurnHandler.announce`.
Announce = Callable[[ReplyPreparingV1], Awaitable[None]]


class TurnHandler:
    def __init__(
        self,
        db: Database,
        answerer: Answerer,
        quiet_period_s: float,
        announce: Announce | None = None,
    ) -> None:
        self.db = db
        self.answerer = answerer
        self.quiet_period_s = quiet_period_s
        self._announce = announce
        self._announcing: set[asyncio.Task[None]] = set()  # strong references

    def announce(self, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload) -> None:
        """Tell ingest we are preparing an answer (it marks the message read, typing shown).

        Published directly, not through the outbox: the answer's transaction stays open until
        the answer is ready, and the hint must leave before. Started before the answer on the
        same confirmed channel as the reply, so the broker routes it first; the answer never
        waits for its confirm, and a failure is only logged."""
        if self._announce is None:
            return
        event = ReplyPreparingV1(
            tenant_id=tenant_id,
            payload=ReplyPreparingPayload(
                conversation_id=p.conversation_id, message_id=p.message.id, wamid=p.message.wamid
            ),
        )
        task = asyncio.create_task(self._publish_hint(event))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _publish_hint(self, event: ReplyPreparingV1) -> None:
        assert self._announce is not None
        try:
            await self._announce(event)
        except Exception as exc:
            log.warning("responder.preparing_not_published", error=repr(exc))

    async def __call__(self, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload) -> None:
        async with self.db.session() as session:
            await track(session, tenant_id, p)
            if not wants_answer(p):
                return
            await mark_latest(session, tenant_id, p)
        if self.quiet_period_s > 0:
            await asyncio.sleep(self.quiet_period_s)
        async with self.db.session() as session:
            await self._answer(session, tenant_id, p)

    async def _answer(
        self, session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
    ) -> None:
        turn = await session.scalar(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == p.conversation_id)
            .with_for_update()
        )
        if turn is None or turn.latest_message_id != p.message.id:
            log.info("responder.superseded")  # a later message of the burst answers
            return
        if turn.answered_message_id == p.message.id or await session.scalar(
            select(Reply.id).where(Reply.message_id == p.message.id)
        ):
            log.info("responder.already_answered")
            return
        ai = await effective_settings(session, tenant_id)
        if not ai.enabled:
            return
        # From here on the turn gets an answer (or the fallback): show the customer we read it.
        self.announce(tenant_id, p)
        unanswered, earlier = split_history(p, turn, ai.history_messages)
        outcome = await self.answerer.answer(
            ai,
            await template_for(session, tenant_id, ai),
            TurnInput(
                tenant_id=tenant_id,
                business_name=await business_name(session, tenant_id),
                customer_name=p.contact.name,
                unanswered=unanswered,
                history=earlier,
                latest_type=p.message.type,
            ),
        )
        turn.answered_message_id = p.message.id
        await record(session, tenant_id, p, outcome)


async def record(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload, o: Outcome
) -> None:
    """The reply log row and the events, in one transaction (published after commit)."""
    reply = Reply(
        tenant_id=tenant_id,
        conversation_id=p.conversation_id,
        message_id=p.message.id,
        customer_message_at=p.message.created_at,
        outcome=o.kind,
        text=o.text,
        handoff_reason=o.handoff_reason,
        model=o.model,
        tokens_in=o.tokens_in,
        tokens_out=o.tokens_out,
        latency_ms=o.latency_ms,
        cost_usd=o.cost_usd,
        sources=[
            {
                "filename": f.filename,
                "page": f.page,
                "section": f.section,
                "score": f.score,
                "document_id": str(f.document_id) if f.document_id else None,
                "chunk_id": str(f.chunk_id) if f.chunk_id else None,
            }
            for f in o.sources
        ],
    )
    session.add(reply)
    await session.flush()
    await add_event(
        session,
        outbox,
        ReplyGeneratedV1(
            tenant_id=tenant_id,
            payload=ReplyGeneratedPayload(
                reply_id=reply.id,
                conversation_id=p.conversation_id,
                in_reply_to_message_id=p.message.id,
                in_reply_to_wamid=p.message.wamid,
                parts=o.parts,
                kind=o.kind,
                model=o.model,
                tokens_in=o.tokens_in,
                tokens_out=o.tokens_out,
                latency_ms=o.latency_ms,
                cost_usd=o.cost_usd,
                sources=[
                    ReplySource(
                        document_id=f.document_id,
                        chunk_id=f.chunk_id,
                        filename=f.filename,
                        page=f.page,
                        section=f.section,
                        score=f.score,
                    )
                    for f in o.sources
                ],
            ),
        ),
    )
    if o.handoff_reason:
        await add_event(
            session,
            outbox,
            HandoffRequestedV1(
                tenant_id=tenant_id,
                payload=HandoffRequestedPayload(
                    conversation_id=p.conversation_id,
                    message_id=p.message.id,
                    reason=o.handoff_reason,
                ),
            ),
        )
    log.info(
        "responder.replied",
        kind=o.kind,
        handoff=bool(o.handoff_reason),
        latency_ms=o.latency_ms,
        model=o.model,
    )
