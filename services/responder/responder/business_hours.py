"""Business hours: the settings (`/api/business-hours`) and what a customer message outside
them does — the auto-reply, once per conversation per closed period, and, if the business
chose it, a handoff instead of the AI's answer.

A business that never set its hours is open all day every day: nothing changes for it.
"""

import uuid
from datetime import date
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import AppError
from common.events import (
    AutoReplyPayload,
    AutoReplyV1,
    ConversationMessageStoredPayload,
    HandoffRequestedPayload,
    HandoffRequestedV1,
)
from common.outbox import add_event
from responder import repository
from responder.hours import ALL_DAY, DAYS, Hours, closed_since, minutes
from responder.models import BusinessHours, outbox
from responder.schemas import BusinessHoursIn, BusinessHoursOut

log = structlog.get_logger(__name__)

OUTSIDE_HOURS_REASON = "outside business hours"
# The auto-reply's id derives from its key: the same closed period, the same id.
AUTO_REPLY_NAMESPACE = uuid.UUID("2d0c9f3e-8d8e-4a7b-9a55-1b6c4f0e7a21")


def default_hours(tenant_id: uuid.UUID) -> BusinessHours:
    return BusinessHours(
        tenant_id=tenant_id,
        timezone="UTC",
        weekly={day: [list(i) for i in ALL_DAY] for day in DAYS},
        holidays=[],
        auto_reply=None,
        outside_hours="answer",
    )


def hours_out(row: BusinessHours) -> BusinessHoursOut:
    return BusinessHoursOut(
        timezone=row.timezone,
        weekly={day: row.weekly.get(day, []) for day in DAYS},
        holidays=list(row.holidays),
        auto_reply=row.auto_reply,
        outside_hours=row.outside_hours,
    )


async def get_hours(session: AsyncSession, tenant_id: uuid.UUID) -> BusinessHours:
    return await session.get(BusinessHours, tenant_id) or default_hours(tenant_id)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: once


def _check_timezone(name: str) -> str:
    # ZoneInfo also opens paths ("../etc/x") and odd keys; only IANA names are offered.
    if name not in _zones():
        raise AppError(422, f"timezone: {name!r} is not an IANA time zone (e.g. Europe/Lisbon)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AppError(422, f"timezone: {name!r} is not an IANA time zone") from None
    return name


def _check_weekly(weekly: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    unknown = sorted(set(weekly) - set(DAYS))
    if unknown:
        raise AppError(422, f"weekly: unknown day {unknown[0]!r} (use {', '.join(DAYS)})")
    checked: dict[str, list[list[str]]] = {}
    for day in DAYS:
        spans = []
        for start, end in weekly.get(day, []):
            try:
                a, b = minutes(start), minutes(end)
            except ValueError as exc:
                raise AppError(422, f"weekly.{day}: {exc}") from None
            if a == 1440:
                raise AppError(422, f"weekly.{day}: 24:00 can only end an interval")
            if a >= b:
                raise AppError(422, f"weekly.{day}: {start}-{end} must start before it ends")
            spans.append((a, b, [start, end]))
        spans.sort()
        for (_, end_a, first), (start_b, _, second) in pairwise(spans):
            if start_b < end_a:
                raise AppError(
                    422, f"weekly.{day}: {'-'.join(first)} and {'-'.join(second)} overlap"
                )
        checked[day] = [s[2] for s in spans]
    return checked


def _check_holidays(holidays: list[str]) -> list[str]:
    days = set()
    for value in holidays:
        try:
            if len(value) != 10:
                raise ValueError
            days.add(date.fromisoformat(value))
        except ValueError:
            raise AppError(422, f"holidays: {value!r} is not a date as YYYY-MM-DD") from None
    return [d.isoformat() for d in sorted(days)]


async def update_hours(
    session: AsyncSession, tenant_id: uuid.UUID, body: BusinessHoursIn
) -> BusinessHoursOut:
    row = await session.get(BusinessHours, tenant_id)
    if row is None:
        row = default_hours(tenant_id)
        session.add(row)
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field != "auto_reply":
            raise AppError(422, f"{field}: may not be null")
    if "timezone" in changes:
        row.timezone = _check_timezone(changes["timezone"])
    if "weekly" in changes:
        row.weekly = _check_weekly(changes["weekly"])
    if "holidays" in changes:
        row.holidays = _check_holidays(changes["holidays"])
    if "auto_reply" in changes:
        row.auto_reply = changes["auto_reply"] or None  # "" clears it too
    if "outside_hours" in changes:
        row.outside_hours = changes["outside_hours"]
    await session.flush()
    return hours_out(row)


def _hours(row: BusinessHours) -> Hours:
    return Hours.parse(row.timezone, row.weekly, row.holidays)


async def outside_hours(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> BusinessHours | None:
    """The business's hours when this customer message came while it was closed (the
    auto-reply is queued then, once per conversation per closed period); None when open."""
    row = await session.get(BusinessHours, tenant_id)
    if row is None:
        return None  # never configured: always open
    period_start = closed_since(_hours(row), p.message.created_at)
    if period_start is None:
        return None
    if row.auto_reply:
        # The key row and the event in one transaction: a redelivery or a concurrent turn
        # of the same period finds the row and sends nothing.
        inserted = await repository.claim_auto_reply(
            session, tenant_id, p.conversation_id, period_start, p.message.id
        )
        if inserted is not None:
            await add_event(
                session,
                outbox,
                AutoReplyV1(
                    tenant_id=tenant_id,
                    payload=AutoReplyPayload(
                        reply_id=uuid.uuid5(
                            AUTO_REPLY_NAMESPACE, f"{p.conversation_id}:{period_start.isoformat()}"
                        ),
                        conversation_id=p.conversation_id,
                        in_reply_to_message_id=p.message.id,
                        in_reply_to_wamid=p.message.wamid,
                        text=row.auto_reply,
                        period_start=period_start,
                    ),
                ),
            )
            log.info("responder.auto_reply", period_start=period_start.isoformat())
    return row


async def hand_off(
    session: AsyncSession, tenant_id: uuid.UUID, p: ConversationMessageStoredPayload
) -> None:
    """No AI answer outside hours: a person takes the conversation. Logged as the turn's
    outcome (`replies.message_id` is unique), so a redelivery hands off nothing twice."""
    inserted = await repository.record_handoff_turn(
        session,
        tenant_id,
        p.conversation_id,
        p.message.id,
        p.message.created_at,
        OUTSIDE_HOURS_REASON,
    )
    if inserted is None:
        return
    await add_event(
        session,
        outbox,
        HandoffRequestedV1(
            tenant_id=tenant_id,
            payload=HandoffRequestedPayload(
                conversation_id=p.conversation_id,
                message_id=p.message.id,
                reason=OUTSIDE_HOURS_REASON,
            ),
        ),
    )
    log.info("responder.handoff_outside_hours")
