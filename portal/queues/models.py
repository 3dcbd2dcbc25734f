"""Customer-service queues: who works which case, by when, and why it landed there.

- ``Queue`` (members, lead, business calendar, assignment strategy, capacity) and
  ``QueueMember``; ``AgentStatus`` holds each agent's availability and capacity.
- ``RoutingRule``: ordered, first match wins; JSON ``conditions`` and ``actions``.
- ``CaseWork``: the queue side of a case, 1:1 with ``customer_case`` (kept apart so this
  feature owns its columns): queue, assignee, priority (1 urgent .. 4 low, smaller is more
  urgent so one ascending index serves "oldest highest-priority first"), a mirror of the
  case's state and ``is_open``, the SLA clocks and the escalation markers. The queue page
  reads it with keyset pagination on ``(queue_id, is_open, priority, opened_at, case_id)``.
- ``RoutingDecision``: every routing of a case with a readable explanation.
- ``CaseTag``: free tags on a case (routing, escalation signals, staff).
- ``SlaPolicy``: per queue x priority: first response and resolution targets in business
  minutes, the at-risk share and what a breach does.
- ``BusinessCalendar`` (time zone, working hours per weekday) with ``CalendarDay`` rows
  (holidays and make-up working days; source ``package`` or ``staff``) and ``CalendarYear``
  (which years hold data, so a year without any can be flagged).
- ``EscalationKeyword``: the maintained keyword list per language.
- ``CannedReply`` (three languages, placeholders), ``CaseMerge`` and ``CaseApproval``
  (compensation approvals with the approver's role, limit and reason).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from portal.cases.models import Case
from portal.content import TranslatedText
from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class Strategy(enum.StrEnum):
    """How a queue hands out its cases."""

    MANUAL = "manual"  # agents "take next": the oldest highest-priority case
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class Priority(enum.IntEnum):
    """Case priority; smaller is more urgent."""

    URGENT = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4


class DayKind(enum.StrEnum):
    """A calendar exception."""

    HOLIDAY = "holiday"  # a day off (public holiday)
    WORKDAY = "workday"  # a make-up working day (调休) on a weekend


class Source(enum.StrEnum):
    """Where a calendar row came from."""

    PACKAGE = "package"  # pre-filled from chinese_calendar
    STAFF = "staff"  # entered or corrected by a supervisor


class BusinessCalendar(db.Model):
    """Working hours per weekday in a time zone, with holiday and make-up-day rows."""

    __tablename__ = "business_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    # {"0": [["09:00", "18:00"]], ..., "6": []}; weekday 0 = Monday
    hours: Mapped[dict] = mapped_column(JSON, default=dict)
    # hours of a make-up working day (调休): those of this weekday
    makeup_weekday: Mapped[int] = mapped_column(SmallInteger, default=0)
    use_package: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    days: Mapped[list[CalendarDay]] = relationship(
        back_populates="calendar", cascade="all, delete-orphan", order_by="CalendarDay.day")


class CalendarDay(db.Model):
    """A holiday or a make-up working day of one calendar."""

    __tablename__ = "calendar_day"
    __table_args__ = (UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(80), default="")
    source: Mapped[str] = mapped_column(String(10), default=Source.STAFF)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    calendar: Mapped[BusinessCalendar] = relationship(back_populates="days")


class CalendarYear(db.Model):
    """A year of a calendar that holds holiday data (from the package or from staff)."""

    __tablename__ = "calendar_year"

    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(10), default=Source.PACKAGE)
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Queue(db.Model):
    """A customer-service queue."""

    __tablename__ = "work_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    strategy: Mapped[str] = mapped_column(String(20), default=Strategy.MANUAL)
    default_capacity: Mapped[int] = mapped_column(Integer, default=20)
    is_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    is_escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    rr_last_user_id: Mapped[int | None] = mapped_column(Integer)  # round-robin cursor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    calendar: Mapped[BusinessCalendar | None] = relationship()
    lead = relationship("StaffUser", foreign_keys=[lead_id])
    members: Mapped[list[QueueMember]] = relationship(
        back_populates="queue", cascade="all, delete-orphan", order_by="QueueMember.user_id")


class QueueMember(db.Model):
    """An agent working a queue."""

    __tablename__ = "queue_member"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("work_queue.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    queue: Mapped[Queue] = relationship(back_populates="members")
    user = relationship("StaffUser")


class AgentStatus(db.Model):
    """An agent's availability and capacity (open cases at once)."""

    __tablename__ = "agent_status"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoutingRule(db.Model):
    """One routing rule: ordered by ``position``; the first enabled match wins."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=100, index=True)
    name: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"kind": [...], "type": [...], "incident": "any"|"none"|[ids], "origin_region": [...],
    #  "destination_region": [...], "language": [...], "amount_min_fen": N,
    #  "amount_max_fen": N, "keywords": [...], "earlier_cases_min": N}
    conditions: Mapped[dict] = mapped_column(JSON, default=dict)
    # {"queue": slug, "priority": 1..4, "tags": [...]}
    actions: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlaPolicy(db.Model):
    """Targets of a queue for one priority, in business minutes of its calendar."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        UniqueConstraint("queue_id", "priority"),
        CheckConstraint("first_response_minutes > 0 AND resolution_minutes > 0",
                        name="targets_positive"),
        CheckConstraint("at_risk_percent BETWEEN 1 AND 99", name="at_risk_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("work_queue.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(SmallInteger)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    at_risk_percent: Mapped[int] = mapped_column(SmallInteger, default=80)
    # what a breach does: any of notify_lead, raise_priority, move_escalation
    on_breach: Mapped[list] = mapped_column(JSON, default=list)
    on_risk: Mapped[list] = mapped_column(JSON, default=list)


class CaseWork(db.Model):
    """The queue side of a case (1:1): queue, owner, priority, SLA clocks, escalation."""

    __tablename__ = "case_work"
    __table_args__ = (
        Index("ix_case_work_queue_page", "queue_id", "is_open", "priority", "opened_at",
              "case_id"),
        Index("ix_case_work_assignee_open", "assignee_id", "is_open"),
        Index("ix_case_work_open_due", "is_open", "resolution_due_at"),
        Index("ix_case_work_open_response_risk", "is_open", "response_risk_at"),
        Index("ix_case_work_open_resolution_risk", "is_open", "resolution_risk_at"),
        CheckConstraint("priority BETWEEN 1 AND 4", name="priority_range"),
    )

    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), primary_key=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("work_queue.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.NORMAL)
    state: Mapped[str] = mapped_column(String(20))  # mirror of customer_case.state
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the case's created_at
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA (business time of the queue's calendar)
    sla_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="SET NULL"))
    sla_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)  # business seconds
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When each clock reaches its at-risk share (for the periodic check's index scan)
    response_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Escalation markers: each set exactly once (conditional UPDATE)
    response_at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    signals: Mapped[list] = mapped_column(JSON, default=list)  # escalation signals found
    contacts: Mapped[int] = mapped_column(Integer, default=1)  # customer messages so far
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case: Mapped[Case] = relationship(
        backref=backref("work", uselist=False, cascade="all, delete-orphan",
                        passive_deletes=True))
    queue: Mapped[Queue | None] = relationship()
    assignee = relationship("StaffUser", foreign_keys=[assignee_id])
    sla_policy: Mapped[SlaPolicy | None] = relationship()


class CaseTag(db.Model):
    """A tag on a case."""

    __tablename__ = "case_tag"
    __table_args__ = (Index("ix_case_tag_tag_case", "tag", "case_id"),)

    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), default="staff")  # rule | signal | staff
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoutingDecision(db.Model):
    """One routing of a case: which rule, which queue, and why in words."""

    __tablename__ = "routing_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("routing_rule.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(80), default="")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("work_queue.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(SmallInteger)
    explanation: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_label: Mapped[str] = mapped_column(String(200), default="routing")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationKeyword(db.Model):
    """A phrase that signals escalation risk (12305, 媒体, lawyer, ...)."""

    __tablename__ = "escalation_keyword"
    __table_args__ = (UniqueConstraint("language", "keyword"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(10))  # zh_Hans | zh_Hant | en | *
    keyword: Mapped[str] = mapped_column(String(80))
    tag: Mapped[str] = mapped_column(String(40), default="escalation-risk")
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.HIGH)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CannedReply(db.Model):
    """A reply template in three languages with placeholders ({name}, {reference}...)."""

    __tablename__ = "canned_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CaseMerge(db.Model):
    """A duplicate case merged into another."""

    __tablename__ = "case_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), unique=True)
    target_case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseApproval(db.Model):
    """A compensation approval: amount, who (role and limit in force) and why."""

    __tablename__ = "case_approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    limit_fen: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
