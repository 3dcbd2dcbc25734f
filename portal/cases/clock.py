"""The legal clock of a case, in **calendar days** (never paused, no business hours).

- A complaint (and a compensation claim, which is one) must be answered within 7 days
  (Interim Regulations on Express Delivery, Art. 28): ``CASES_COMPLAINT_DAYS``.
- A complaint forwarded by the postal authority (12305) within 15 days:
  ``CASES_POSTAL_FORWARD_DAYS``.

The due time is the end of the last day in the portal's time zone (``PORTAL_TIMEZONE``,
Asia/Shanghai): a case filed on 14 February at 23:30 is due by 21 February 23:59:59 local
time, whatever holidays fall in between. This is separate from the queues' SLA, which
counts business hours and pauses while waiting for the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

COMPLAINT_CLOCK = "complaint_7d"
POSTAL_CLOCK = "postal_12305_15d"


@dataclass(frozen=True)
class LegalClock:
    """Which clock runs and when it ends."""

    name: str
    days: int
    due_at: datetime  # aware, UTC


def due_at(start: datetime, days: int, zone: str = "Asia/Shanghai") -> datetime:
    """End of the ``days``-th calendar day after ``start``'s local date, in UTC."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    tz = ZoneInfo(zone)
    local_day = start.astimezone(tz).date() + timedelta(days=max(0, days))
    end = datetime.combine(local_day, time(23, 59, 59), tzinfo=tz)
    return end.astimezone(UTC)


def clock_for(kind: str, source: str, start: datetime, config: dict) -> LegalClock | None:
    """The legal clock of a case of ``kind`` from ``source``, or None when none runs.

    Forwarded 12305 complaints run the 15-day clock whatever their kind; otherwise the
    kinds in ``CASES_LEGAL_CLOCK_KINDS`` (claim, complaint) run the 7-day clock.
    """
    zone = config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    if source == "postal_12305":
        days = int(config.get("CASES_POSTAL_FORWARD_DAYS", 15))
        return LegalClock(POSTAL_CLOCK, days, due_at(start, days, zone))
    kinds = config.get("CASES_LEGAL_CLOCK_KINDS", ("claim", "complaint"))
    if kind in kinds:
        days = int(config.get("CASES_COMPLAINT_DAYS", 7))
        return LegalClock(COMPLAINT_CLOCK, days, due_at(start, days, zone))
    return None


def days_left(due: datetime | None, now: datetime, zone: str = "Asia/Shanghai") -> int | None:
    """Whole calendar days from today (local) to the due day; negative when overdue."""
    if due is None:
        return None
    tz = ZoneInfo(zone)
    return (due.astimezone(tz).date() - now.astimezone(tz).date()).days
