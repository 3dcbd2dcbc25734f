"""Reading cases for the workspace: queue lists with filters and keyset pagination, capped
counts, and search by reference, tracking number, phone or email.

The queue list reads ``case_work`` in the order of its index ``(queue_id, is_open,
priority, opened_at, case_id)`` and continues after the last row shown (a cursor
``priority.opened_at.case_id``), so page 400 costs what page 1 does. Counts are exact up
to ``QUEUES_COUNT_CAP`` and shown as "1,000+" beyond it (``count_capped``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import phonenumbers
from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from portal.cases.models import Case
from portal.db import utcnow
from portal.extensions import db
from portal.queues.models import CaseTag, CaseWork
from portal.references import is_valid_reference, normalise_reference

PAGE_SIZE = 25
STATES = ("new", "open", "waiting_customer", "resolved", "closed")
DUE_FILTERS = ("at_risk", "breached", "today")


@dataclass
class Filters:
    """Validated queue-view filters (bad values are dropped, never a 500)."""

    state: str = ""
    priority: int | None = None
    incident_id: int | None = None
    tag: str = ""
    due: str = ""
    mine: int | None = None  # assignee id
    unassigned: bool = False

    @classmethod
    def parse(cls, args, user_id: int | None = None) -> Filters:
        """From the query string."""
        state = args.get("state", "")
        priority = args.get("priority", "")
        incident = args.get("incident", "")
        due = args.get("due", "")
        return cls(
            state=state if state in STATES else "",
            priority=int(priority) if priority in ("1", "2", "3", "4") else None,
            incident_id=int(incident) if incident.isdigit() and len(incident) < 10 else None,
            tag=args.get("tag", "").strip().lower()[:40],
            due=due if due in DUE_FILTERS else "",
            mine=user_id if args.get("mine") == "1" else None,
            unassigned=args.get("unassigned") == "1")

    def query_args(self) -> dict:
        """The filters as query-string arguments (for links)."""
        args = {"state": self.state, "priority": self.priority, "incident": self.incident_id,
                "tag": self.tag, "due": self.due, "mine": "1" if self.mine else None,
                "unassigned": "1" if self.unassigned else None}
        return {k: v for k, v in args.items() if v not in (None, "")}


def _where(queue_id: int | None, f: Filters, now: datetime) -> list:
    clauses = []
    if queue_id is not None:
        clauses.append(CaseWork.queue_id == queue_id)
    if f.state:
        clauses.append(CaseWork.is_open.is_(f.state in ("new", "open", "waiting_customer")))
        clauses.append(CaseWork.state == f.state)
    else:
        clauses.append(CaseWork.is_open.is_(True))
    if f.priority:
        clauses.append(CaseWork.priority == f.priority)
    if f.incident_id:
        inner = Case.__table__.alias("incident_case")
        clauses.append(exists().where(inner.c.id == CaseWork.case_id,
                                      inner.c.incident_id == f.incident_id))
    if f.tag:
        clauses.append(exists().where(CaseTag.case_id == CaseWork.case_id, CaseTag.tag == f.tag))
    if f.mine:
        clauses.append(CaseWork.assignee_id == f.mine)
    if f.unassigned:
        clauses.append(CaseWork.assignee_id.is_(None))
    if f.due == "breached":
        clauses.append(CaseWork.paused_since.is_(None))
        clauses.append(or_(CaseWork.resolution_due_at < now,
                           and_(CaseWork.first_responded_at.is_(None),
                                CaseWork.first_response_due_at < now)))
    elif f.due == "at_risk":
        clauses.append(CaseWork.paused_since.is_(None))
        clauses.append(or_(CaseWork.resolution_risk_at <= now,
                           and_(CaseWork.first_responded_at.is_(None),
                                CaseWork.response_risk_at <= now)))
    elif f.due == "today":
        clauses.append(CaseWork.resolution_due_at < now + timedelta(hours=24))
    return clauses


def encode_cursor(work: CaseWork) -> str:
    """The position after ``work``."""
    return f"{work.priority}.{int(work.opened_at.timestamp() * 1_000_000)}.{work.case_id}"


def decode_cursor(text: str | None) -> tuple[int, datetime, int] | None:
    """A cursor back into a key, or None for anything malformed."""
    match = re.fullmatch(r"([1-4])\.(\d{1,18})\.(\d{1,12})", text or "")
    if not match:
        return None
    try:
        opened = datetime.fromtimestamp(int(match.group(2)) / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return int(match.group(1)), opened, int(match.group(3))


@dataclass
class Page:
    """One page of a queue."""

    rows: list[tuple[CaseWork, Case]]
    next_cursor: str | None
    count: int
    capped: bool


def count_capped(queue_id: int | None, f: Filters, now: datetime | None = None,
                 cap: int | None = None) -> tuple[int, bool]:
    """Exact count up to ``cap``; (cap, True) beyond it."""
    cap = cap or int(current_app.config.get("QUEUES_COUNT_CAP", 1000))
    now = now or utcnow()
    inner = select(CaseWork.case_id).where(*_where(queue_id, f, now)).limit(cap + 1).subquery()
    count = int(db.session.scalar(select(func.count()).select_from(inner)) or 0)
    return (cap, True) if count > cap else (count, False)


def queue_page(queue_id: int | None, f: Filters, cursor: str | None = None,
               size: int = PAGE_SIZE, now: datetime | None = None,
               with_count: bool = True) -> Page:
    """Oldest highest-priority first, ``size`` rows after ``cursor``."""
    now = now or utcnow()
    query = (select(CaseWork, Case).join(Case, Case.id == CaseWork.case_id)
             .options(selectinload(CaseWork.assignee))
             .where(*_where(queue_id, f, now))
             .order_by(CaseWork.priority, CaseWork.opened_at, CaseWork.case_id)
             .limit(size + 1))
    key = decode_cursor(cursor)
    if key is not None:
        query = query.where(tuple_(CaseWork.priority, CaseWork.opened_at, CaseWork.case_id)
                            > tuple_(*key))
    rows = [(w, c) for w, c in db.session.execute(query).all()]
    more = len(rows) > size
    rows = rows[:size]
    count, capped = count_capped(queue_id, f, now) if with_count else (0, False)
    return Page(rows, encode_cursor(rows[-1][0]) if more and rows else None, count, capped)


def time_formatter():
    """A cheap local-time formatter for dense tables (``YYYY-MM-DD HH:MM`` in the portal's
    zone, the same in every language)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))

    def stamp(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    return stamp


def count_text(count: int, capped: bool) -> str:
    """1,234 or 1,000+."""
    return f"{count:,}+" if capped else f"{count:,}"


def search(text: str, limit: int = 50) -> tuple[str, list[Case]]:
    """Find cases by reference, tracking number, phone or email; returns what the text was
    taken for and the cases (newest first)."""
    raw = (text or "").strip()[:254]
    if not raw:
        return "", []
    query = select(Case).order_by(Case.id.desc()).limit(limit)
    reference = normalise_reference(raw)[:20]
    if is_valid_reference(reference):
        return "reference", list(db.session.scalars(query.where(Case.reference == reference)))
    if "@" in raw:
        return "email", list(db.session.scalars(query.where(Case.email.in_({raw, raw.lower()}))))
    phone = _phone(raw)
    if phone:
        found = list(db.session.scalars(query.where(Case.phone_e164 == phone)))
        if found:
            return "phone", found
    from portal.parcels.tracking import normalise

    tracking = normalise(raw)[:40]
    return "tracking_number", list(db.session.scalars(
        query.where(Case.tracking_number == tracking)))


def _phone(raw: str) -> str | None:
    if not re.fullmatch(r"[+\d\s\-()]{5,25}", raw):
        return None
    try:
        number = phonenumbers.parse(raw, current_app.config.get("PHONE_DEFAULT_REGION", "CN"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
