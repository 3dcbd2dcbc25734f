"""The supervisor's figures: backlog per queue, at risk and breached, agent load, first
response and resolution times, SLA and legal-clock compliance, satisfaction; CSV exports
of cases and of the SLA report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from portal.cases.models import Case, CaseRating
from portal.db import utcnow
from portal.extensions import db
from portal.queues.models import AgentStatus, CaseWork, Queue
from portal.staff.models import StaffUser

SAMPLE = 20000


@dataclass
class QueueFigures:
    """One queue's row of the dashboard and of the SLA report."""

    queue: Queue | None
    open: int = 0
    unassigned: int = 0
    at_risk: int = 0
    breached: int = 0
    responded: int = 0
    response_met: int = 0
    resolved: int = 0
    resolution_met: int = 0
    first_response_minutes: list[float] = field(default_factory=list)
    resolution_minutes: list[float] = field(default_factory=list)

    @property
    def response_compliance(self) -> float | None:
        """Share of first responses within target (percent)."""
        return round(100 * self.response_met / self.responded, 1) if self.responded else None

    @property
    def resolution_compliance(self) -> float | None:
        """Share of resolutions within target (percent)."""
        return round(100 * self.resolution_met / self.resolved, 1) if self.resolved else None

    @property
    def median_first_response(self) -> float | None:
        """Median minutes to first response (wall clock)."""
        return round(median(self.first_response_minutes), 1) if self.first_response_minutes \
            else None

    @property
    def median_resolution(self) -> float | None:
        """Median minutes to resolution (wall clock)."""
        return round(median(self.resolution_minutes), 1) if self.resolution_minutes else None


def backlog(now: datetime | None = None) -> list[QueueFigures]:
    """Open, unassigned, at-risk and breached cases per queue (one grouped query)."""
    now = now or utcnow()
    running = CaseWork.paused_since.is_(None)
    breached = running & ((CaseWork.resolution_due_at < now) | (
        CaseWork.first_responded_at.is_(None) & (CaseWork.first_response_due_at < now)))
    at_risk = running & ~breached & ((CaseWork.resolution_risk_at <= now) | (
        CaseWork.first_responded_at.is_(None) & (CaseWork.response_risk_at <= now)))
    rows = db.session.execute(
        select(CaseWork.queue_id, func.count(),
               func.sum(sql_case((CaseWork.assignee_id.is_(None), 1), else_=0)),
               func.sum(sql_case((at_risk, 1), else_=0)),
               func.sum(sql_case((breached, 1), else_=0)))
        .where(CaseWork.is_open.is_(True)).group_by(CaseWork.queue_id)).all()
    queues = {q.id: q for q in db.session.scalars(select(Queue).order_by(Queue.position,
                                                                       Queue.id))}
    figures = {qid: QueueFigures(q) for qid, q in queues.items()}
    for qid, total, unassigned, risk, late in rows:
        row = figures.setdefault(qid, QueueFigures(queues.get(qid)))
        row.open, row.unassigned = int(total), int(unassigned or 0)
        row.at_risk, row.breached = int(risk or 0), int(late or 0)
    return list(figures.values())


def sla_report(days: int = 30, now: datetime | None = None) -> list[QueueFigures]:
    """Per queue: compliance and median times of cases opened in the last ``days``."""
    now = now or utcnow()
    figures = {f.queue.id if f.queue else None: f for f in backlog(now)}
    rows = db.session.execute(
        select(CaseWork.queue_id, CaseWork.opened_at, CaseWork.first_responded_at,
               CaseWork.first_response_due_at, CaseWork.resolved_at, CaseWork.resolution_due_at)
        .where(CaseWork.opened_at >= now - timedelta(days=days))
        .order_by(CaseWork.opened_at.desc()).limit(SAMPLE)).all()
    for qid, opened, responded, response_due, resolved, resolution_due in rows:
        row = figures.setdefault(qid, QueueFigures(None))
        if responded is not None:
            row.responded += 1
            row.response_met += int(response_due is None or responded <= response_due)
            row.first_response_minutes.append((responded - opened).total_seconds() / 60)
        if resolved is not None:
            row.resolved += 1
            row.resolution_met += int(resolution_due is None or resolved <= resolution_due)
            row.resolution_minutes.append((resolved - opened).total_seconds() / 60)
    return list(figures.values())


def legal_compliance(days: int = 30, now: datetime | None = None) -> dict:
    """Cases with a legal clock: answered in time, answered late, overdue unanswered."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Case.answered_at, Case.legal_due_at).where(
            Case.legal_due_at.is_not(None), Case.created_at >= now - timedelta(days=days))
        .limit(SAMPLE)).all()
    in_time = sum(1 for a, d in rows if a is not None and a <= d)
    late = sum(1 for a, d in rows if a is not None and a > d)
    overdue = sum(1 for a, d in rows if a is None and d < now)
    decided = in_time + late + overdue
    return {"in_time": in_time, "late": late, "overdue": overdue,
            "percent": round(100 * in_time / decided, 1) if decided else None}


def satisfaction(days: int = 90, now: datetime | None = None) -> dict:
    """Average rating and count."""
    now = now or utcnow()
    avg, count = db.session.execute(select(func.avg(CaseRating.score), func.count()).where(
        CaseRating.created_at >= now - timedelta(days=days))).one()
    return {"average": round(float(avg), 2) if avg is not None else None, "count": int(count)}


def agent_load() -> list[tuple[StaffUser, AgentStatus | None, int]]:
    """Agents with their availability and open cases."""
    loads = dict(db.session.execute(select(CaseWork.assignee_id, func.count()).where(
        CaseWork.is_open.is_(True), CaseWork.assignee_id.is_not(None))
        .group_by(CaseWork.assignee_id)).all())
    users = db.session.execute(select(StaffUser, AgentStatus).outerjoin(
        AgentStatus, AgentStatus.user_id == StaffUser.id).where(
        StaffUser.role.in_(("agent", "supervisor")), StaffUser.active.is_(True))
        .order_by(StaffUser.email)).all()
    return [(u, s, int(loads.get(u.id, 0))) for u, s in users]


def _csv(header: list[str], rows) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(["" if v is None else v for v in row])
        yield buffer.getvalue()


def sla_csv(figures: list[QueueFigures]) -> Iterator[str]:
    """The SLA report as CSV."""
    return _csv(["queue", "open", "unassigned", "at_risk", "breached", "responded",
                 "response_compliance_percent", "median_first_response_minutes", "resolved",
                 "resolution_compliance_percent", "median_resolution_minutes"],
                ([f.queue.slug if f.queue else "", f.open, f.unassigned, f.at_risk, f.breached,
                  f.responded, f.response_compliance, f.median_first_response, f.resolved,
                  f.resolution_compliance, f.median_resolution] for f in figures))


def cases_csv(queue_id: int | None = None, batch: int = 1000) -> Iterator[str]:
    """Every case (of a queue) with its queue side, streamed in keyset batches."""

    def rows():
        last = 0
        while True:
            query = (select(Case, CaseWork).outerjoin(CaseWork, CaseWork.case_id == Case.id)
                     .where(Case.id > last).order_by(Case.id).limit(batch))
            if queue_id is not None:
                query = query.where(CaseWork.queue_id == queue_id)
            chunk = db.session.execute(query).all()
            if not chunk:
                return
            for c, w in chunk:
                yield [c.reference, c.kind, c.type, c.state, c.source, c.created_at.isoformat(),
                       w.queue_id if w else None, w.assignee_id if w else None,
                       w.priority if w else None,
                       w.first_response_due_at.isoformat() if w and w.first_response_due_at
                       else None,
                       w.first_responded_at.isoformat() if w and w.first_responded_at else None,
                       w.resolution_due_at.isoformat() if w and w.resolution_due_at else None,
                       w.resolved_at.isoformat() if w and w.resolved_at else None,
                       c.legal_due_at.isoformat() if c.legal_due_at else None,
                       c.answered_at.isoformat() if c.answered_at else None]
            last = chunk[-1][0].id
            db.session.expunge_all()

    return _csv(["reference", "kind", "type", "state", "source", "created_at", "queue_id",
                 "assignee_id", "priority", "first_response_due_at", "first_responded_at",
                 "resolution_due_at", "resolved_at", "legal_due_at", "answered_at"], rows())
