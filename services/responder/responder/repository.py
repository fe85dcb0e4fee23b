"""The responder's queries, each scoped to the caller's tenant (a row keyed by a message id,
which Meta or ingest made unique, is the one exception: its tenant is in the row).

Request paths, the answering pipeline (responder.turns), its bookkeeping consumers
(responder.consumers), business hours, CSAT, spend and the analytics reports (whose queries
close this file; responder.analytics shapes what they return) read and write through here."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    String,
    TextClause,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import ConversationCSATReceivedPayload
from common.pagination import PageQuery, keyset
from responder.models import (
    AISettings,
    AutoReplySent,
    ConversationTurn,
    CSATResponse,
    LLMSpend,
    PromptTemplate,
    Reply,
    SentMark,
    TenantName,
)

_THIS_MONTH = "date_trunc('month', now() at time zone 'UTC')::date"


def _templates(tenant_id: uuid.UUID) -> Select[PromptTemplate]:
    return select(PromptTemplate).where(PromptTemplate.tenant_id == tenant_id)


async def template(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.id == template_id))


async def template_by_name(
    session: AsyncSession, tenant_id: uuid.UUID, name: str
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.name == name))


async def templates_page(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> list[PromptTemplate]:
    """Oldest first; one more than the page (see common.pagination.keyset)."""
    stmt = keyset(_templates(tenant_id), page, PromptTemplate.created_at, PromptTemplate.id)
    return list((await session.scalars(stmt)).all())


async def settings(session: AsyncSession, tenant_id: uuid.UUID) -> AISettings | None:
    return await session.get(AISettings, tenant_id)


# --- the answering pipeline (responder.turns) ------------------------------------------------


async def now(session: AsyncSession) -> datetime:
    """The database's clock (leases are compared with it, whichever replica wrote them)."""
    at: datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
    return at


# The two statements on every stored message, built once: per call only the parameters
# change (no statement to build, cache key to compute or compile to look up).
_TRACK_MESSAGE = text(
    """
    insert into responder.tracked_messages
        (message_id, tenant_id, conversation_id, direction, author, created_at)
    values (:message, :tenant, :conversation, :direction, :author, :created_at)
    on conflict do nothing
    """
)

_MARK_LATEST = text(
    """
    insert into responder.conversation_turns as t
        (conversation_id, tenant_id, latest_message_id, latest_at)
    values (:conversation, :tenant, :message, :at)
    on conflict (conversation_id) do update
        set latest_message_id = excluded.latest_message_id, latest_at = excluded.latest_at
        where t.latest_at is null or t.latest_at <= excluded.latest_at
    """
)


async def track_message(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    direction: str,
    author: str | None,
    created_at: datetime,
) -> None:
    """A message of the conversation, once (analytics count and time them)."""
    await session.execute(
        _TRACK_MESSAGE,
        {
            "message": message_id,
            "tenant": tenant_id,
            "conversation": conversation_id,
            "direction": direction,
            "author": author,
            "created_at": created_at,
        },
    )


async def mark_latest(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    at: datetime,
) -> None:
    """The latest customer message of the conversation wins (by time, then arrival)."""
    await session.execute(
        _MARK_LATEST,
        {"conversation": conversation_id, "tenant": tenant_id, "message": message_id, "at": at},
    )


class TurnToClaim(NamedTuple):
    """The conversation's turn (locked) with all a claim decides on, read in one statement:
    a claim is on every answer's path, and each round trip costs both processes CPU."""

    turn: ConversationTurn
    now: datetime  # the database's clock (see `now`)
    replied: bool  # the message has a reply row (an answer or a handoff)
    ai: AISettings | None  # None: the business kept the defaults
    business_name: str | None
    spent: float | None  # this month's LLM spend, when asked for


def _turn_to_claim(
    with_spend: bool,
) -> Select[ConversationTurn, datetime, bool, AISettings, str | None, float | None]:
    tenant_id = bindparam("tenant", type_=UUID(as_uuid=True))
    message_id = bindparam("message", type_=UUID(as_uuid=True))
    replied = (
        select(Reply.id)
        .where(Reply.tenant_id == tenant_id, Reply.message_id == message_id)
        .exists()
        .label("replied")
    )
    name = (
        select(TenantName.name)
        .where(TenantName.tenant_id == tenant_id)
        .scalar_subquery()
        .label("business_name")
    )
    spent = (
        select(LLMSpend.cost_usd)
        .where(LLMSpend.tenant_id == tenant_id, LLMSpend.month == literal_column(_THIS_MONTH))
        .scalar_subquery()
        if with_spend
        else literal_column("null")
    ).label("spent")
    return (
        select(
            ConversationTurn, func.clock_timestamp().label("now"), replied, AISettings, name, spent
        )
        .outerjoin(AISettings, AISettings.tenant_id == ConversationTurn.tenant_id)
        .where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id == bindparam("conversation", type_=UUID(as_uuid=True)),
        )
        .with_for_update(of=ConversationTurn)  # the turn only: settings stay unlocked
    )


# Built once (on every claim and every finish): per call only the parameters change.
_TURNS_TO_CLAIM = {with_spend: _turn_to_claim(with_spend) for with_spend in (False, True)}


async def turn_to_claim(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    with_spend: bool = False,
) -> TurnToClaim | None:
    """The conversation's turn, locked until the transaction ends, and whether `message_id`
    has a reply, the tenant's AI settings and name and (`with_spend`) this month's spend.

    The clock is read as the row is (a lock wait makes it at most that much early: a lease
    then looks held a little longer, never shorter)."""
    row = (
        await session.execute(
            _TURNS_TO_CLAIM[with_spend],
            {"tenant": tenant_id, "conversation": conversation_id, "message": message_id},
        )
    ).one_or_none()
    if row is None:
        return None
    turn, now, replied, ai, name, spent = row
    return TurnToClaim(turn, now, bool(replied), ai, name, None if spent is None else float(spent))


async def release_turn(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, lease_id: uuid.UUID
) -> None:
    """Give the turn back, if the lease is still this one."""
    await session.execute(
        update(ConversationTurn)
        .where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id == conversation_id,
            ConversationTurn.lease_id == lease_id,
        )
        .values(lease_id=None, leased_message_id=None, leased_until=None)
    )


# --- bookkeeping (responder.consumers) -------------------------------------------------------


async def save_tenant_name(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> None:
    statement = insert(TenantName).values(tenant_id=tenant_id, name=name)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id"], set_={"name": statement.excluded.name}
        )
    )


async def reset_memory(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, at: datetime
) -> None:
    """The AI forgets the conversation before `at` (it was resolved then)."""
    statement = insert(ConversationTurn).values(
        conversation_id=conversation_id, tenant_id=tenant_id, memory_reset_at=at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={"memory_reset_at": statement.excluded.memory_reset_at},
        )
    )


async def erase_conversations_text(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> None:
    """The customer's words go (answers, reasons, quoted passages, the AI's memory); ids and
    timestamps stay, so past analytics keep their counts and response times."""
    await session.execute(
        update(Reply)
        .where(Reply.tenant_id == tenant_id, Reply.conversation_id.in_(conversation_ids))
        .values(text=None, handoff_reason=None, sources=[])
    )
    await session.execute(
        delete(ConversationTurn).where(
            ConversationTurn.tenant_id == tenant_id,
            ConversationTurn.conversation_id.in_(conversation_ids),
        )
    )


async def mark_sent(session: AsyncSession, message_id: uuid.UUID, at: datetime) -> None:
    """When a reply was first accepted by Meta (the earliest status counts, whatever order
    they arrive in). Keyed by the message id alone: it is unique across tenants."""
    statement = insert(SentMark).values(message_id=message_id, sent_at=at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["message_id"],
            set_={"sent_at": statement.excluded.sent_at},
            where=SentMark.__table__.c.sent_at > statement.excluded.sent_at,
        )
    )


# --- business hours, CSAT and spend ---------------------------------------------------------


async def claim_auto_reply(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    period_start: datetime,
    message_id: uuid.UUID,
) -> uuid.UUID | None:
    """The closed period's auto-reply key for the conversation: the message id when this call
    took it, None when a redelivery or a concurrent turn had it already."""
    return await session.scalar(
        insert(AutoReplySent)
        .values(
            conversation_id=conversation_id,
            period_start=period_start,
            tenant_id=tenant_id,
            message_id=message_id,
        )
        .on_conflict_do_nothing()
        .returning(AutoReplySent.message_id)
    )


async def record_handoff_turn(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    customer_message_at: datetime,
    reason: str,
) -> uuid.UUID | None:
    """A turn handed to a person without an AI call, logged as its outcome once
    (`replies.message_id` is unique): its id, or None when it was logged already."""
    return await session.scalar(
        insert(Reply)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            message_id=message_id,
            customer_message_at=customer_message_at,
            outcome="handoff",
            handoff_reason=reason,
            sources=[],
            tokens_in=0,
            tokens_out=0,
            latency_ms=0,
            cost_usd=0.0,
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(Reply.id)
    )


class PreviousStatus(NamedTuple):
    status: str | None  # None: the conversation was not known yet


# The previous row is read (locked) before the upsert writes: the join makes the insert's one
# row wait for it, and RETURNING reads the same materialized CTE (a lock taken after the
# update would find the row changed by this very statement and skip it).
_SAVE_CONVERSATION_STATE = text(
    """
    with previous as (
        select status from responder.conversation_states
        where tenant_id = :tenant and conversation_id = :conversation
        for update
    )
    insert into responder.conversation_states as s (conversation_id, tenant_id, status, updated_at)
    select cast(:conversation as uuid), cast(:tenant as uuid), cast(:status as varchar),
        cast(:at as timestamptz)
    from (values (1)) one left join previous on true
    on conflict (conversation_id) do update
        set status = excluded.status, updated_at = excluded.updated_at
        where s.tenant_id = excluded.tenant_id and s.updated_at <= excluded.updated_at
    returning (select status from previous) as previous
    """
).columns(previous=String)


# FOR UPDATE locks a row that exists: the first two updates of a conversation found none,
# both read "not known yet" and both asked for a rating. A lock on the conversation's id,
# held to the commit, makes the second wait; its own statement, so that the save that
# follows reads with a snapshot taken after the wait.
_LOCK_CONVERSATION = text(
    "select pg_advisory_xact_lock(hashtextextended(cast(:conversation as text), 0))"
)


async def save_conversation_state(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    status: str,
    at: datetime,
) -> PreviousStatus | None:
    """The conversation's status as of `at`, and the one it replaced. None, and nothing
    written, when the state saved is newer: an older update delivered late."""
    await session.execute(_LOCK_CONVERSATION, {"conversation": str(conversation_id)})
    row = (
        await session.execute(
            _SAVE_CONVERSATION_STATE,
            {"tenant": tenant_id, "conversation": conversation_id, "status": status, "at": at},
        )
    ).one_or_none()
    return None if row is None else PreviousStatus(row.previous)


async def save_csat_response(
    session: AsyncSession, tenant_id: uuid.UUID, r: ConversationCSATReceivedPayload
) -> None:
    await session.execute(
        insert(CSATResponse)
        .values(
            request_id=r.request_id,
            tenant_id=tenant_id,
            conversation_id=r.conversation_id,
            score=r.score,
            assignee_id=r.assignee_id,
            ai_resolved=r.ai_resolved,
            responded_at=r.responded_at,
        )
        .on_conflict_do_nothing()  # the first rating of a request is the one
    )


_ADD_SPEND = text(
    f"""
    insert into responder.llm_spend as s (tenant_id, month, cost_usd)
    values (:tenant, {_THIS_MONTH}, :cost)
    on conflict (tenant_id, month) do update set cost_usd = s.cost_usd + excluded.cost_usd
    """
)


async def add_spend(session: AsyncSession, tenant_id: uuid.UUID, cost: float) -> None:
    """Add a call's cost to this month's spend (one statement: concurrent turns add up)."""
    await session.execute(_ADD_SPEND, {"tenant": tenant_id, "cost": cost})


async def spent_this_month(session: AsyncSession, tenant_id: uuid.UUID) -> float:
    found = await session.scalar(
        select(LLMSpend.cost_usd).where(
            LLMSpend.tenant_id == tenant_id, LLMSpend.month == literal_column(_THIS_MONTH)
        )
    )
    return float(found or 0.0)


# --- analytics reports: every query filters by tenant and [since, until) -------------------

# First response: from a customer message that opens a turn (the conversation's first, or
# the first after an answer) to the first later outbound message WhatsApp accepted.
_FIRST_RESPONSE = text(
    """
    with ordered as (
        select conversation_id, direction, created_at,
               lag(direction) over (partition by conversation_id order by created_at) as before
        from responder.tracked_messages where tenant_id = :tenant
    ), opened as (
        select conversation_id, created_at from ordered
        where direction = 'inbound' and (before is null or before = 'outbound')
          and created_at >= :since and created_at < :until
    ), answered as (
        select o.created_at as asked,
               (select min(s.sent_at) from responder.tracked_messages m
                  join responder.sent_marks s on s.message_id = m.message_id
                 where m.conversation_id = o.conversation_id and m.direction = 'outbound'
                   and m.created_at >= o.created_at) as sent
        from opened o
    )
    select percentile_cont(0.5) within group (order by extract(epoch from sent - asked) * 1000),
           percentile_cont(0.95) within group (order by extract(epoch from sent - asked) * 1000)
    from answered where sent is not null
    """
)

_MESSAGES = text(
    """
    select count(*) filter (where direction = 'inbound'),
           count(*) filter (where direction = 'outbound'),
           count(distinct conversation_id)
    from responder.tracked_messages
    where tenant_id = :tenant and created_at >= :since and created_at < :until
    """
)

_REPLIES = text(
    """
    select count(*) filter (where outcome = 'answer'),
           count(*) filter (where handoff_reason is not null),
           coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0),
           count(*) filter (where cost_usd is null)
    from responder.replies
    where tenant_id = :tenant and created_at >= :since and created_at < :until
    """
)

_DAILY = text(
    """
    with days as (
        select generate_series(date_trunc('day', cast(:since as timestamptz) at time zone 'UTC'),
                               date_trunc('day', cast(:until as timestamptz) at time zone 'UTC'
                                          - interval '1 microsecond'),
                               interval '1 day')::date as day
    ), m as (
        select (created_at at time zone 'UTC')::date as day,
               count(*) filter (where direction = 'inbound') as messages_in,
               count(*) filter (where direction = 'outbound') as messages_out
        from responder.tracked_messages
        where tenant_id = :tenant and created_at >= :since and created_at < :until group by 1
    ), r as (
        select (created_at at time zone 'UTC')::date as day,
               count(*) filter (where outcome = 'answer') as ai_replies,
               count(*) filter (where handoff_reason is not null) as handoffs,
               sum(tokens_in) as tokens_in, sum(tokens_out) as tokens_out, sum(cost_usd) as cost,
               count(*) filter (where cost_usd is null) as unpriced
        from responder.replies
        where tenant_id = :tenant and created_at >= :since and created_at < :until group by 1
    )
    select days.day, coalesce(m.messages_in, 0), coalesce(m.messages_out, 0),
           coalesce(r.ai_replies, 0), coalesce(r.handoffs, 0), coalesce(r.tokens_in, 0),
           coalesce(r.tokens_out, 0), coalesce(r.cost, 0), coalesce(r.unpriced, 0)
    from days left join m on m.day = days.day left join r on r.day = days.day order by days.day
    """
)


_CSAT = text(
    """
    select count(*), count(*) filter (where score = 3)
    from responder.csat_responses
    where tenant_id = :tenant and responded_at >= :since and responded_at < :until
    """
)

_CSAT_DAILY = text(
    """
    select (responded_at at time zone 'UTC')::date, count(*), count(*) filter (where score = 3)
    from responder.csat_responses
    where tenant_id = :tenant and responded_at >= :since and responded_at < :until group by 1
    """
)

_CSAT_SPLIT = text(
    """
    select assignee_id, ai_resolved, count(*), count(*) filter (where score = 3)
    from responder.csat_responses
    where tenant_id = :tenant and responded_at >= :since and responded_at < :until
    group by 1, 2
    """
)


async def _one(
    session: AsyncSession, query: TextClause, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Any, ...]:
    params = {"tenant": tenant_id, "since": since, "until": until}
    return tuple((await session.execute(query, params)).one())


async def _all(
    session: AsyncSession, query: TextClause, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    params = {"tenant": tenant_id, "since": since, "until": until}
    return [tuple(row) for row in await session.execute(query, params)]


async def first_response_ms(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Any, ...]:
    """(median, p95) of the first-response times in ms; (None, None) when none."""
    return await _one(session, _FIRST_RESPONSE, tenant_id, since, until)


async def message_counts(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Any, ...]:
    """(messages in, messages out, conversations)."""
    return await _one(session, _MESSAGES, tenant_id, since, until)


async def reply_totals(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Any, ...]:
    """(answers, handoffs, tokens in, tokens out, priced cost, unpriced replies)."""
    return await _one(session, _REPLIES, tenant_id, since, until)


async def daily_totals(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """One row per UTC day of the period, as `reply_totals` and `message_counts` per day."""
    return await _all(session, _DAILY, tenant_id, since, until)


async def csat_totals(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[Any, ...]:
    """(ratings, rated Great)."""
    return await _one(session, _CSAT, tenant_id, since, until)


async def csat_daily(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """(UTC day, ratings, rated Great) for each day that has ratings."""
    return await _all(session, _CSAT_DAILY, tenant_id, since, until)


async def csat_split(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """(assignee, resolved by the AI alone, ratings, rated Great) per group."""
    return await _all(session, _CSAT_SPLIT, tenant_id, since, until)
