"""Analytics from what the responder has heard (events only; no reads of other schemas); the
reports' queries are in repository.py."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from responder import repository


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


def _percent(great: int, responses: int) -> float | None:
    return round(100.0 * great / responses, 1) if responses else None


def _share(responses: int, great: int) -> CSATShare:
    return CSATShare(responses=responses, percent=_percent(great, responses))


async def csat(
    session: AsyncSession, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> CSATFigures:
    window = (tenant_id, since, until)
    agents: dict[uuid.UUID, list[int]] = {}
    ai, human, total = [0, 0], [0, 0], [0, 0]
    for assignee, ai_resolved, count, great in await repository.csat_split(session, *window):
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
    window = (tenant_id, since, until)
    messages_in, messages_out, conversations = await repository.message_counts(session, *window)
    replies, handoffs, tokens_in, tokens_out, cost, unpriced = await repository.reply_totals(
        session, *window
    )
    median, p95 = await repository.first_response_ms(session, *window)
    ratings, great = await repository.csat_totals(session, *window)
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
    window = (tenant_id, since, until)
    rows = await repository.daily_totals(session, *window)
    ratings = {r[0]: (r[1], r[2]) for r in await repository.csat_daily(session, *window)}
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
