"""The answering pipeline: a customer message in, at most one reply per turn out.

A burst is answered once: each message records itself as the conversation's latest, waits the
quiet period, and only the latest one goes on. It claims the conversation's turn (a lease, in a
short transaction), composes the answer holding no transaction, row lock or pool connection,
and records it only if the claim is still its own: two replicas (or a redelivery) never both
reply, and a replica that died mid-answer leaves the turn to a redelivery once the lease ends.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.bus import RetryAfter
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
from responder import business_hours, repository
from responder.answer import Answerer, Outcome, TurnInput
from responder.models import AISettings, ConversationTurn, Reply, outbox
from responder.prompts import Turn
from responder.service import DEFAULT_BUSINESS_NAME, default_settings, template_for
from responder.settings import ResponderSettings
from responder.spending import TenantLimits, add_spend, over_budget

log = structlog.get_logger(__name__)

# Messages that never prompt an answer (docs/whatsapp.md: they never prompt an answer).
SILENT_TYPES = frozenset({"reaction", "system", "unsupported", "order", "unknown", "ephemeral"})


async def track(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> None:
    m = p.message
    await repository.track_message(
        session, tenant_id, p.conversation_id, m.id,
        direction=m.direction, author=m.author, created_at=m.created_at,
    )  # fmt: skip


def prompting(p: ConversationMessageStoredPayload) -> bool:
    """A customer message that expects an answer from the business (a rating tap does not)."""
    m = p.message
    return (
        m.direction == "inbound"
        and m.author == "customer"
        and m.type not in SILENT_TYPES
        and not p.csat_reply
    )


def wants_answer(p: ConversationMessageStoredPayload) -> bool:
    return prompting(p) and p.ai_enabled and p.conversation_status != "handoff"


async def mark_latest(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> None:
    await repository.mark_latest(
        session, tenant_id, p.conversation_id, p.message.id, p.message.created_at
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


@dataclass(frozen=True)
class Claim:
    """A turn that is ours to answer, with all the answer needs (read in the claim's
    transaction, so the call-out needs no database)."""

    lease_id: uuid.UUID
    ai: AISettings
    template: str
    turn: TurnInput


async def claim(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    p: ConversationMessageStoredPayload,
    lease_s: float,
    settings: ResponderSettings | None = None,
) -> Claim | float | None:
    """Transaction 1: take the conversation's turn for this message.

    A `Claim`: ours, for `lease_s`. A number: another answer holds the turn (a replica, or
    this event's first delivery) for that many more seconds. None: nothing to answer."""
    found = await repository.turn_to_claim(
        session,
        tenant_id,
        p.conversation_id,
        p.message.id,
        with_spend=settings is not None and settings.tenant_llm_budget_usd > 0,
    )
    if found is None or found.turn.latest_message_id != p.message.id:
        log.info("responder.superseded")  # a later message of the burst answers
        return None
    turn, now = found.turn, found.now
    if turn.answered_message_id == p.message.id or found.replied:
        log.info("responder.already_answered")
        return None
    if turn.lease_id is not None and turn.leased_until is not None:
        if turn.leased_until > now:
            return (turn.leased_until - now).total_seconds()
        # Its holder died or stalled past the lease: the turn is redone here, and the
        # holder's late result is refused (`finish`).
        log.warning("responder.lease_expired", leased_message_id=str(turn.leased_message_id))
    ai = found.ai or default_settings(tenant_id)
    if not ai.enabled:
        return None
    unanswered, earlier = split_history(p, turn, ai.history_messages)
    turn.lease_id = uuid.uuid4()
    turn.leased_message_id = p.message.id
    turn.leased_until = now + timedelta(seconds=lease_s)
    return Claim(
        lease_id=turn.lease_id,
        ai=ai,
        template=await template_for(session, tenant_id, ai),
        turn=TurnInput(
            tenant_id=tenant_id,
            business_name=(
                DEFAULT_BUSINESS_NAME if found.business_name is None else found.business_name
            ),
            customer_name=p.contact.name,
            unanswered=unanswered,
            history=earlier,
            latest_type=p.message.type,
            llm_refused=over_budget(settings, found.spent or 0.0) if settings else None,
        ),
    )


async def finish(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    p: ConversationMessageStoredPayload,
    lease_id: uuid.UUID,
    outcome: Outcome,
) -> bool:
    """Transaction 2: record the outcome, only while the claim is still ours."""
    found = await repository.turn_to_claim(session, tenant_id, p.conversation_id, p.message.id)
    if found is None or found.turn.lease_id != lease_id:
        log.warning("responder.lease_lost")  # another replica took the turn over: it answers
        return False
    turn = found.turn
    turn.lease_id = turn.leased_message_id = turn.leased_until = None
    if turn.answered_message_id == p.message.id or found.replied:
        log.info("responder.already_answered")
        return False
    turn.answered_message_id = p.message.id
    await record(session, tenant_id, p, outcome)
    return True


# Publishes `reply.preparing.v1` (confirmed); see `TurnHandler.announce`.
Announce = Callable[[ReplyPreparingV1], Awaitable[None]]

# Waiting for a turn another answer holds: first re-check, and the longest pause between two.
BUSY_POLL_S = (0.1, 1.0)


class TurnHandler:
    """Claim the turn in a short transaction, call the knowledge service and the LLM with no
    transaction or pooled connection held, record the outcome under the claim in another."""

    def __init__(
        self,
        db: Database,
        answerer: Answerer,
        quiet_period_s: float,
        announce: Announce | None = None,
        lease_s: float = 30.0,
        settings: ResponderSettings | None = None,
        limits: TenantLimits | None = None,
    ) -> None:
        self.db = db
        self.settings = settings  # the budget (None: unlimited)
        self.limits = limits  # turns per minute (None: unlimited)
        self.answerer = answerer
        self.quiet_period_s = quiet_period_s
        self.lease_s = lease_s
        self._announce = announce
        self._announcing: set[asyncio.Task[None]] = set()  # strong references

    def announce(self, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload) -> None:
        """Tell ingest we are preparing an answer (it marks the message read, typing shown).

        Published directly, not through the outbox: a hint that must leave at once, not
        after the relay's next round. Started before the answer on the same confirmed channel
        as the reply, so the broker routes it first; the answer never waits for its confirm,
        and a failure is only logged."""
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
            if not prompting(p):
                return
            # Outside hours the auto-reply goes whoever is in charge (the AI or a person).
            closed = await business_hours.outside_hours(session, tenant_id, p)
            if not wants_answer(p):
                return
            if closed is not None and closed.outside_hours == "handoff":
                await business_hours.hand_off(session, tenant_id, p)
                return
            await mark_latest(session, tenant_id, p)
        if self.quiet_period_s > 0:
            await asyncio.sleep(self.quiet_period_s)
        claimed = await self._claim(tenant_id, p)
        if claimed is None:
            return
        await self._within_rate(tenant_id, p, claimed)
        # From here on the turn gets an answer (or the fallback): show the customer we read it.
        self.announce(tenant_id, p)
        try:
            outcome = await self.answerer.answer(claimed.ai, claimed.template, claimed.turn)
        except Exception:
            async with self.db.session() as session:
                await repository.release_turn(
                    session, tenant_id, p.conversation_id, claimed.lease_id
                )
            raise
        async with self.db.session() as session:
            await finish(session, tenant_id, p, claimed.lease_id, outcome)

    async def _within_rate(
        self, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload, claimed: Claim
    ) -> None:
        """Past the business's turns per minute, the turn waits for the next window: the
        customer still gets the AI's answer, a little later (a burst from a campaign is not
        handed to people wholesale; the budget is what caps the spend). The bus redelivers
        it; nothing is announced or answered now."""
        if self.limits is None:
            return
        wait = await self.limits.turn(tenant_id)
        if wait is None:
            return
        async with self.db.session() as session:
            await repository.release_turn(session, tenant_id, p.conversation_id, claimed.lease_id)
        log.info("responder.turn_rate_limited", retry_after_s=wait)
        raise RetryAfter(wait, f"over {tenant_id}'s AI turns per minute")

    async def _claim(
        self, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
    ) -> Claim | None:
        """The claim, once no other answer holds the turn. While one does, wait holding
        nothing: it finishes (then this message is answered, or is next) or its lease ends."""
        pause, longest = BUSY_POLL_S
        while True:
            async with self.db.session() as session:
                claimed = await claim(session, tenant_id, p, self.lease_s, self.settings)
            if not isinstance(claimed, float):
                return claimed
            await asyncio.sleep(min(pause, claimed + 0.01))
            pause = min(pause * 2, longest)


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
    await add_spend(session, tenant_id, o.cost_usd)
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
