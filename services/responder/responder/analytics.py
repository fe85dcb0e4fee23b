"""Analytics from what the responder has heard (events only; no reads of other schemas)."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError


class Summary(BaseModel):
    messages_in: int
    messages_out: int
    ai_replies: int
    handoffs: int
    conversations: int
    median_first_response_ms: float | None
    p95_first_response_ms: float | None
    tokens_in: int
    tokens_out: int
    # None when a reply of the period used a model whose price is unknown: the total is not
    # known, and 0 would be a lie. `unpriced_replies` says how many.
    cost_usd: float | None
    unpriced_replies: int = 0
    # Ratings given in the period; the share rated Great (3) x 100, null when none.
    csat_responses: int = 0
    csat_percent: float | None = None


class Day(BaseModel):
    date: date
    messages_in: int
    messages_out: int
    ai_replies: int
    handoffs: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None  # as in the summary
    unpriced_replies: int = 0
    csat_responses: int = 0
    csat_percent: float | None = None


class Daily(BaseModel):
    items: list[Day]


class CSATShare(BaseModel):
    responses: int
    percent: float | None  # rated Great (3) x 100 / responses; null when none


class AgentCSAT(CSATShare):
    agent_id: uuid.UUID


class CSATFigures(CSATShare):
    by_agent: list[AgentCSAT]
    ai: CSATShare  # conversations the AI resolved alone (no agent message, no handoff)
    human: CSATShare


def instant(value: str | None) -> datetime | date | None:
    """A bare date (2026-11-26) means the whole day; anything longer is a moment. (pydantic
    would read a bare date as that day's midnight, which drops the last day of `to`.)"""
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except ValueError:
        raise AppError(422, f"not an ISO date or datetime: {value!r}") from None


def period(start: datetime | date | None, end: datetime | date | None) -> tuple[datetime, datetime]:
    """[from, to): dates mean whole days (UTC); the default is the last 30 days."""

    def moment(value: datetime | date, end_of_day: bool) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        day = value + timedelta(days=1) if end_of_day else value
        return datetime.combine(day, time.min, tzinfo=UTC)

    to = moment(end, True) if end else datetime.now(UTC)
    since = moment(start, False) if start else to - timedelta(days=30)
    if since >= to:
        raise AppError(422, "'from' must be before 'to'")
    if to - since > timedelta(days=366):
        raise AppError(422, "the period may span at most 366 days")
    return since, to


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


def _percent(great: int, responses: int) -> float | None:
    return round(100.0 * great / responses, 1) if responses else None


def _share(responses: int, great: int) -> CSATShare:
    return CSATShare(responses=responses, percent=_percent(great, responses))


async def csat(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> CSATFigures:
    params = {"tenant": tenant_id, "since": since, "until": until}
    agents: dict[uuid.UUID, list[int]] = {}
    ai, human, total = [0, 0], [0, 0], [0, 0]
    for assignee, ai_resolved, count, great in await session.execute(_CSAT_SPLIT, params):
        for bucket in (total, ai if ai_resolved else human):
            bucket[0] += count
            bucket[1] += great
        if assignee is not None:
            agent = agents.setdefault(assignee, [0, 0])
            agent[0] += count
            agent[1] += great
    return CSATFigures(
        responses=total[0],
        percent=_percent(total[1], total[0]),
        by_agent=[
            AgentCSAT(agent_id=agent, responses=n, percent=_percent(great, n))
            for agent, (n, great) in sorted(agents.items(), key=lambda a: (-a[1][0], str(a[0])))
        ],
        ai=_share(*ai),
        human=_share(*human),
    )


def _cost(priced_sum: float, unpriced: int) -> float | None:
    return None if unpriced else round(float(priced_sum), 6)


async def summary(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> Summary:
    params = {"tenant": tenant_id, "since": since, "until": until}
    messages_in, messages_out, conversations = (await session.execute(_MESSAGES, params)).one()
    replies, handoffs, tokens_in, tokens_out, cost, unpriced = (
        await session.execute(_REPLIES, params)
    ).one()
    median, p95 = (await session.execute(_FIRST_RESPONSE, params)).one()
    ratings, great = (await session.execute(_CSAT, params)).one()
    return Summary(
        csat_responses=ratings,
        csat_percent=_percent(great, ratings),
        messages_in=messages_in,
        messages_out=messages_out,
        ai_replies=replies,
        handoffs=handoffs,
        conversations=conversations,
        median_first_response_ms=round(median, 1) if median is not None else None,
        p95_first_response_ms=round(p95, 1) if p95 is not None else None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=_cost(cost, unpriced),
        unpriced_replies=unpriced,
    )


async def daily(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> Daily:
    params = {"tenant": tenant_id, "since": since, "until": until}
    rows = await session.execute(_DAILY, params)
    ratings = {r[0]: (r[1], r[2]) for r in await session.execute(_CSAT_DAILY, params)}
    return Daily(
        items=[
            Day(
                date=r[0],
                messages_in=r[1],
                messages_out=r[2],
                ai_replies=r[3],
                handoffs=r[4],
                tokens_in=r[5],
                tokens_out=r[6],
                cost_usd=_cost(r[7], r[8]),
                unpriced_replies=r[8],
                csat_responses=ratings.get(r[0], (0, 0))[0],
                csat_percent=_percent(ratings.get(r[0], (0, 0))[1], ratings.get(r[0], (0, 0))[0]),
            )
            for r in rows
        ]
    )
