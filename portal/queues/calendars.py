"""Business calendars: working hours per weekday, public holidays and China's make-up
working days (调休), in the calendar's time zone (Asia/Shanghai by default).

- :class:`WorkCalendar` is the pure arithmetic: the working intervals of a local date,
  ``add_business(start, seconds)`` and ``business_seconds(a, b)``. It is built from a
  ``BusinessCalendar`` row and its ``CalendarDay`` rows (``load``), or for a queue without
  a calendar from the defaults (``QUEUES_DEFAULT_HOURS``) plus the package's data.
- Holidays and make-up days are pre-filled from ``chinese_calendar`` (``prefill``: rows
  with source ``package``; rows a supervisor entered are never overwritten) and edited by
  supervisors (``set_day``/``remove_day``: source ``staff``). ``CalendarYear`` records
  which years hold data; ``missing_years`` names the ones that do not (the package does
  not know a year until the State Council publishes it), for the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.queues.models import BusinessCalendar, CalendarDay, CalendarYear, DayKind, Source

DEFAULT_HOURS = {str(d): [["09:00", "18:00"]] for d in range(5)} | {"5": [], "6": []}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_DAYS = 3 * 366  # a calendar with no working time at all is refused, not looped on


class CalendarError(ValueError):
    """Bad calendar input (hours, dates) or a calendar with no working time."""


def _minutes(text: str) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        raise CalendarError(f"bad time {text!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise CalendarError(f"bad time {text!r}")
    return hours * 60 + minutes


@dataclass
class WorkCalendar:
    """Working intervals per weekday (minutes from midnight) and dated exceptions."""

    timezone: str = "Asia/Shanghai"
    hours: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    exceptions: dict[date, str] = field(default_factory=dict)  # date -> holiday | workday
    makeup_weekday: int = 0
    # Working intervals per local date in UTC, as computed (the fields above are not
    # changed after construction). Routing a claim asks for the same days four times.
    _day_intervals: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_json(cls, hours: dict, exceptions: dict[date, str] | None = None,
                  timezone: str = "Asia/Shanghai", makeup_weekday: int = 0) -> WorkCalendar:
        """Build from ``{"0": [["09:00", "18:00"]], ...}``."""
        parsed: dict[int, list[tuple[int, int]]] = {}
        for day in range(7):
            spans = []
            for start, end in (hours or {}).get(str(day), []):
                a, b = _minutes(start), _minutes(end)
                if b <= a:
                    raise CalendarError(f"{start}-{end} ends before it starts")
                spans.append((a, b))
            parsed[day] = sorted(spans)
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError) as error:
            raise CalendarError(f"unknown time zone {timezone!r}") from error
        return cls(timezone, parsed, dict(exceptions or {}), makeup_weekday)

    @property
    def zone(self) -> ZoneInfo:
        """The time zone object."""
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` has working hours (make-up days count, holidays do not)."""
        return bool(self.spans(day))

    def spans(self, day: date) -> list[tuple[int, int]]:
        """Working intervals of a local date, in minutes from midnight."""
        kind = self.exceptions.get(day)
        if kind == DayKind.HOLIDAY:
            return []
        if kind == DayKind.WORKDAY:
            weekday = day.weekday()
            return self.hours.get(weekday) or self.hours.get(self.makeup_weekday, [])
        return self.hours.get(day.weekday(), [])

    def _intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        known = self._day_intervals.get(day)
        if known is not None:
            return known
        zone = self.zone
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        intervals = tuple(((midnight + timedelta(minutes=a)).astimezone(UTC),
                           (midnight + timedelta(minutes=b)).astimezone(UTC))
                          for a, b in self.spans(day))
        if len(self._day_intervals) >= 4096:
            self._day_intervals.clear()
        self._day_intervals[day] = intervals
        return intervals

    def add_business(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``start``."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        start = start.astimezone(UTC)
        remaining = max(0.0, float(seconds))
        day = start.astimezone(self.zone).date()
        for offset in range(MAX_DAYS):
            for a, b in self._intervals(day + timedelta(days=offset)):
                if b <= start:
                    continue
                a = max(a, start)
                span = (b - a).total_seconds()
                if remaining <= span:
                    if remaining == 0 and offset == 0 and a > start:
                        return a
                    return a + timedelta(seconds=remaining)
                remaining -= span
        raise CalendarError("no working time in this calendar")

    def business_seconds(self, a: datetime, b: datetime) -> float:
        """Working seconds between ``a`` and ``b`` (negative when ``b`` is before ``a``)."""
        if b < a:
            return -self.business_seconds(b, a)
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        total = 0.0
        day = a.astimezone(self.zone).date()
        last = b.astimezone(self.zone).date()
        while day <= last:
            for start, end in self._intervals(day):
                lo, hi = max(start, a), min(end, b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


def parse_hours(text: str) -> dict:
    """Parse lines like ``Mon 09:00-12:00, 13:00-18:00`` (a weekday with no line is off)."""
    hours: dict[str, list[list[str]]] = {str(d): [] for d in range(7)}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, rest = line.partition(" ")
        if name[:3].title() not in WEEKDAYS:
            raise CalendarError(f"unknown weekday {name!r}")
        spans = []
        for part in rest.split(","):
            if not part.strip():
                continue
            start, sep, end = part.strip().partition("-")
            if not sep:
                raise CalendarError(f"bad interval {part.strip()!r}")
            spans.append([start.strip(), end.strip()])
        hours[str(WEEKDAYS.index(name[:3].title()))] = spans
    WorkCalendar.from_json(hours)  # validates
    return hours


def hours_text(hours: dict) -> str:
    """The editable text form of ``hours``."""
    lines = []
    for day in range(7):
        spans = (hours or {}).get(str(day), [])
        if spans:
            lines.append(f"{WEEKDAYS[day]} " + ", ".join(f"{a}-{b}" for a, b in spans))
    return "\n".join(lines)


def default_zone() -> str:
    """The portal's time zone."""
    if has_app_context():
        return current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    return "Asia/Shanghai"


def package_days(year: int) -> dict[date, tuple[str, str]] | None:
    """Holidays and make-up working days of ``year`` from chinese_calendar, or None when the
    package has no data for that year."""
    import chinese_calendar

    result: dict[date, tuple[str, str]] = {}
    day = date(year, 1, 1)
    try:
        chinese_calendar.is_workday(day)
        chinese_calendar.is_workday(date(year, 12, 31))
    except NotImplementedError:
        return None
    while day.year == year:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
        if is_holiday and name:
            result[day] = (DayKind.HOLIDAY, str(name))
        elif day.weekday() >= 5 and chinese_calendar.is_workday(day):
            result[day] = (DayKind.WORKDAY, str(name or "make-up working day"))
        day += timedelta(days=1)
    return result


def default_calendar() -> WorkCalendar:
    """A calendar for queues without one: ``QUEUES_DEFAULT_HOURS`` and the package's data
    for the years around today."""
    hours = DEFAULT_HOURS
    if has_app_context():
        text = current_app.config.get("QUEUES_DEFAULT_HOURS", "")
        if text:
            hours = parse_hours(text.replace(";", "\n"))
    exceptions: dict[date, str] = {}
    this_year = utcnow().year
    for year in range(this_year - 1, this_year + 2):
        for day, (kind, _name) in (package_days(year) or {}).items():
            exceptions[day] = kind
    return WorkCalendar.from_json(hours, exceptions, default_zone())


_default_cache: dict[int, WorkCalendar] = {}


def load(calendar: BusinessCalendar | None) -> WorkCalendar:
    """The arithmetic calendar of a ``BusinessCalendar`` row (or the default)."""
    if calendar is None:
        year = utcnow().year
        if year not in _default_cache:
            _default_cache.clear()
            _default_cache[year] = default_calendar()
        return _default_cache[year]
    rows = db.session.execute(select(CalendarDay.day, CalendarDay.kind).where(
        CalendarDay.calendar_id == calendar.id)).all()
    return WorkCalendar.from_json(calendar.hours or DEFAULT_HOURS, dict(rows),
                                  calendar.timezone, calendar.makeup_weekday or 0)


def create_calendar(name: str, hours: dict | None = None, timezone: str | None = None,
                    years: list[int] | None = None) -> BusinessCalendar:
    """A new calendar, pre-filled from the package for ``years`` (default: this year and
    the next)."""
    WorkCalendar.from_json(hours or DEFAULT_HOURS, timezone=timezone or default_zone())
    calendar = BusinessCalendar(name=name, hours=hours or DEFAULT_HOURS,
                                timezone=timezone or default_zone(), use_package=True)
    db.session.add(calendar)
    db.session.flush()
    this_year = utcnow().year
    prefill(calendar, years or [this_year, this_year + 1])
    return calendar


def prefill(calendar: BusinessCalendar, years: list[int]) -> dict[int, int]:
    """Add the package's holidays and make-up days for ``years``; staff rows are kept.

    Returns rows added per year; a year the package does not know adds nothing (and stays
    flagged as missing).
    """
    added: dict[int, int] = {}
    existing = {d for (d,) in db.session.execute(select(CalendarDay.day).where(
        CalendarDay.calendar_id == calendar.id))}
    for year in years:
        days = package_days(year)
        if days is None:
            added[year] = 0
            continue
        count = 0
        for day, (kind, name) in sorted(days.items()):
            if day in existing:
                continue
            db.session.add(CalendarDay(calendar_id=calendar.id, day=day, kind=kind,
                                       name=name[:80], source=Source.PACKAGE))
            count += 1
        if db.session.get(CalendarYear, (calendar.id, year)) is None:
            db.session.add(CalendarYear(calendar_id=calendar.id, year=year,
                                        source=Source.PACKAGE))
        added[year] = count
    db.session.flush()
    return added


def set_day(calendar: BusinessCalendar, day: date, kind: str, name: str = "",
            actor=None) -> CalendarDay:
    """Enter or correct a holiday or make-up day (source ``staff``); the year then counts
    as having data."""
    from portal.staff import audit

    if kind not in (DayKind.HOLIDAY, DayKind.WORKDAY):
        raise CalendarError(f"bad kind {kind!r}")
    row = db.session.scalar(select(CalendarDay).where(CalendarDay.calendar_id == calendar.id,
                                                      CalendarDay.day == day))
    if row is None:
        row = CalendarDay(calendar_id=calendar.id, day=day)
        db.session.add(row)
    row.kind, row.name, row.source = kind, (name or "").strip()[:80], Source.STAFF
    row.updated_by_id = getattr(actor, "id", None)
    if db.session.get(CalendarYear, (calendar.id, day.year)) is None:
        db.session.add(CalendarYear(calendar_id=calendar.id, year=day.year,
                                    source=Source.STAFF))
    db.session.flush()
    audit.record("queue.calendar_day_set", "calendar", str(calendar.id), actor=actor,
                 day=day, kind=kind, name=row.name)
    return row


def remove_day(calendar: BusinessCalendar, day: date, actor=None) -> bool:
    """Remove a holiday or make-up day (the date follows the weekday hours again)."""
    from portal.staff import audit

    row = db.session.scalar(select(CalendarDay).where(CalendarDay.calendar_id == calendar.id,
                                                      CalendarDay.day == day))
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    audit.record("queue.calendar_day_removed", "calendar", str(calendar.id), actor=actor,
                 day=day)
    return True


def missing_years(today: date | None = None) -> list[tuple[str, int]]:
    """(calendar name, year) for this year and the next that hold no holiday data."""
    today = today or utcnow().date()
    years = (today.year, today.year + 1)
    have = {(c, y) for c, y in db.session.execute(select(
        CalendarYear.calendar_id, CalendarYear.year).where(CalendarYear.year.in_(years)))}
    missing = []
    for calendar in db.session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)):
        missing += [(calendar.name, y) for y in years if (calendar.id, y) not in have]
    return missing
