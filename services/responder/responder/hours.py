"""Business hours as pure time arithmetic: is the business open at an instant, and if not,
when did the closed period it is in begin.

Hours are wall-clock times in the tenant's time zone ("09:00" to "17:30"; "24:00" ends a day),
so a DST change moves them with the clock, as a shop's opening hours move. A holiday is a
whole local day closed. A closed period runs from the end of the last open interval to the
start of the next; its start is the key of "one auto-reply per conversation per closed
period", so it must be the same instant for every message inside that period.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAY: list[list[str]] = [["00:00", "24:00"]]
# A business that is never open: every message is in one closed period that began here.
NEVER_OPEN_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
# How far back to look for the last open interval (a year of holidays and a week more).
LOOKBACK_DAYS = 366 + 7


def minutes(hhmm: str) -> int:
    """'09:30' → 570; '24:00' → 1440. Raises ValueError for anything else."""
    if len(hhmm) != 5 or hhmm[2] != ":" or not (hhmm[:2] + hhmm[3:]).isdigit():
        raise ValueError(f"{hhmm!r} is not a time as HH:MM")
    h, m = int(hhmm[:2]), int(hhmm[3:])
    if hhmm == "24:00":
        return 1440
    if h > 23 or m > 59:
        raise ValueError(f"{hhmm!r} is not a time of day")
    return h * 60 + m


@dataclass(frozen=True)
class Hours:
    zone: ZoneInfo
    # Per weekday (0 = Monday): sorted, non-overlapping (start, end) minutes of the day.
    weekly: Mapping[int, Sequence[tuple[int, int]]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def parse(
        cls, timezone: str, weekly: Mapping[str, Sequence[Sequence[str]]], holidays: Sequence[str]
    ) -> "Hours":
        """From the stored (already validated) settings."""
        return cls(
            zone=ZoneInfo(timezone),
            weekly={
                DAYS.index(day): sorted((minutes(a), minutes(b)) for a, b in intervals)
                for day, intervals in weekly.items()
            },
            holidays=frozenset(date.fromisoformat(d) for d in holidays),
        )

    def intervals_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals of a local day, as UTC instants."""
        if day in self.holidays:
            return
        midnight = datetime.combine(day, time.min, tzinfo=self.zone)
        for start, end in self.weekly.get(day.weekday(), ()):
            # Wall-clock arithmetic (same tzinfo), then the offset of that wall time: 09:00
            # stays 09:00 across a DST change.
            yield (
                (midnight + timedelta(minutes=start)).astimezone(UTC),
                (midnight + timedelta(minutes=end)).astimezone(UTC),
            )


def closed_since(hours: Hours, at: datetime) -> datetime | None:
    """None when open at `at`; else the start of the closed period `at` falls in (UTC)."""
    at = at.astimezone(UTC)
    today = at.astimezone(hours.zone).date()
    latest_end: datetime | None = None
    # Tomorrow too: nothing opens before its local midnight, but a day before today can
    # still hold `at` (an interval ending at 24:00 in a zone whose clock just fell back).
    for back in range(-1, LOOKBACK_DAYS):
        day = today - timedelta(days=back)
        for start, end in hours.intervals_on(day):
            if start <= at < end:
                return None
            if end <= at and (latest_end is None or end > latest_end):
                latest_end = end
        # Days are visited newest first: once an end before `at` is known and this day lies
        # wholly before it, no earlier day can end later.
        if latest_end is not None and back >= 1:
            day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=hours.zone)
            if day_end.astimezone(UTC) <= latest_end:
                break
    return latest_end if latest_end is not None else NEVER_OPEN_SINCE


def is_open(hours: Hours, at: datetime) -> bool:
    return closed_since(hours, at) is None
