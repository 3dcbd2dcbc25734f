"""Who works a case: take next, round robin, least loaded, reassignment, availability.

- ``take_next(queue, agent)``: the oldest highest-priority unassigned open case of the
  queue. On PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP LOCKED`` so two
  agents never wait on or get the same case; elsewhere a conditional ``UPDATE ... WHERE
  assignee_id IS NULL`` claims it and a lost race tries the next candidate.
- ``auto_assign(work)``: for round-robin and least-loaded queues, among the queue's
  members who are available and below their capacity.
- ``assign`` (reassignment by a supervisor or the agent), ``release`` (back to the queue),
  ``set_availability`` (an agent who goes away returns their open cases to their queues).
Every change is written to the case's history and the audit log. The caller commits.
"""

from __future__ import annotations

import time
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from portal.db import utcnow
from portal.extensions import db
from portal.queues.models import AgentStatus, CaseWork, Queue, QueueMember, Strategy
from portal.staff import audit

CANDIDATES = 5


class AssignmentError(ValueError):
    """An assignment the rules refuse (``code``: not_member, unavailable, full, closed)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def status_of(user_id: int) -> AgentStatus:
    """The agent's availability row (created unavailable with the default capacity)."""
    row = db.session.get(AgentStatus, user_id)
    if row is None:
        row = AgentStatus(user_id=user_id, available=False,
                          capacity=int(current_app.config.get("QUEUES_AGENT_CAPACITY", 20)))
        db.session.add(row)
        db.session.flush()
    return row


def load_of(user_ids: list[int]) -> dict[int, int]:
    """Open cases assigned to each agent."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(CaseWork.assignee_id, func.count()).where(
        CaseWork.assignee_id.in_(user_ids), CaseWork.is_open.is_(True))
        .group_by(CaseWork.assignee_id)).all()
    found = dict.fromkeys(user_ids, 0)
    found.update({uid: int(n) for uid, n in rows})
    return found


def _log(work: CaseWork, action: str, actor, **detail) -> None:
    from portal.cases.services import log_event

    log_event(work.case, action, actor=actor, actor_label="" if actor else "assignment",
              **detail)
    audit.record(f"queue.{action}", "case", work.case.reference, actor=actor,
                 actor_label=None if actor else "system", **detail)


def _ordered_candidates(queue_id: int):
    return (select(CaseWork.case_id)
            .where(CaseWork.queue_id == queue_id, CaseWork.is_open.is_(True),
                   CaseWork.assignee_id.is_(None))
            .order_by(CaseWork.priority, CaseWork.opened_at, CaseWork.case_id))


def _claim_postgresql(queue_id: int, agent_id: int, now: datetime) -> int | None:
    case_id = db.session.scalar(_ordered_candidates(queue_id).limit(1)
                                .with_for_update(skip_locked=True))
    if case_id is None:
        return None
    db.session.execute(update(CaseWork).where(CaseWork.case_id == case_id)
                       .values(assignee_id=agent_id, assigned_at=now)
                       .execution_options(synchronize_session=False))
    return case_id


def _claim_portable(queue_id: int, agent_id: int, now: datetime) -> int | None:
    for _round in range(10):
        ids = list(db.session.scalars(_ordered_candidates(queue_id).limit(CANDIDATES)))
        if not ids:
            return None
        for case_id in ids:
            result = db.session.execute(
                update(CaseWork).where(CaseWork.case_id == case_id,
                                       CaseWork.assignee_id.is_(None))
                .values(assignee_id=agent_id, assigned_at=now)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                return case_id
    return None


def with_retry(claim, queue_id: int, agent_id: int, now: datetime, attempts: int = 30):
    """Run a claim; on SQLite a transaction whose snapshot went stale cannot start writing
    ("database is locked" at once, the busy timeout does not apply), so roll back and try
    again. Call it before anything else in the transaction is written."""
    for attempt in range(attempts):
        try:
            return claim(queue_id, agent_id, now)
        except OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            db.session.rollback()
            time.sleep(0.005 * (attempt + 1))
    return None


def take_next(queue: Queue, agent, now: datetime | None = None) -> CaseWork | None:
    """Give ``agent`` the oldest highest-priority unassigned case of ``queue``."""
    now = now or utcnow()
    if not _is_member(queue.id, agent.id) and agent.role not in ("admin", "supervisor"):
        raise AssignmentError("not_member")
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    claim = _claim_postgresql if postgresql else _claim_portable
    case_id = with_retry(claim, queue.id, agent.id, now)
    if case_id is None:
        return None
    work = db.session.get(CaseWork, case_id)
    db.session.refresh(work)
    _log(work, "taken", agent, queue=queue.slug)
    return work


def _is_member(queue_id: int, user_id: int) -> bool:
    return db.session.get(QueueMember, (queue_id, user_id)) is not None


def eligible_agents(queue: Queue) -> list[tuple[int, int, int]]:
    """(user id, load, capacity) of the queue's available members below capacity."""
    rows = db.session.execute(
        select(QueueMember.user_id, AgentStatus.capacity)
        .join(AgentStatus, AgentStatus.user_id == QueueMember.user_id)
        .where(QueueMember.queue_id == queue.id, AgentStatus.available.is_(True))
        .order_by(QueueMember.user_id)).all()
    loads = load_of([uid for uid, _ in rows])
    return [(uid, loads[uid], cap) for uid, cap in rows if loads[uid] < cap]


def pick(queue: Queue) -> int | None:
    """The agent the queue's strategy chooses now, or None."""
    agents = eligible_agents(queue)
    if not agents:
        return None
    if queue.strategy == Strategy.LEAST_LOADED:
        return min(agents, key=lambda a: (a[1], a[0]))[0]
    if queue.strategy == Strategy.ROUND_ROBIN:
        after = [a for a in agents if queue.rr_last_user_id is None or a[0] > queue.rr_last_user_id]
        return (after or agents)[0][0]
    return None


def auto_assign(work: CaseWork, now: datetime | None = None) -> int | None:
    """Assign by the queue's strategy (round robin, least loaded); None when nobody can."""
    queue = work.queue or (db.session.get(Queue, work.queue_id) if work.queue_id else None)
    if queue is None or queue.strategy == Strategy.MANUAL or work.assignee_id or not work.is_open:
        return None
    # lock the queue row so concurrent routings advance the round-robin cursor in turn
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Queue.id).where(Queue.id == queue.id).with_for_update())
    agent_id = pick(queue)
    if agent_id is None:
        return None
    work.assignee_id, work.assigned_at = agent_id, now or utcnow()
    if queue.strategy == Strategy.ROUND_ROBIN:
        queue.rr_last_user_id = agent_id
    db.session.flush()
    _log(work, "auto_assigned", None, queue=queue.slug, strategy=queue.strategy,
         assignee_id=agent_id)
    return agent_id


def assign(work: CaseWork, agent_id: int | None, actor, *, reason: str = "",
           force: bool = False, now: datetime | None = None) -> None:
    """Assign (or with ``None`` unassign) a case; checks availability and capacity unless a
    supervisor forces it."""
    if not work.is_open:
        raise AssignmentError("closed")
    if agent_id is not None and not force:
        status = status_of(agent_id)
        if not status.available:
            raise AssignmentError("unavailable")
        if load_of([agent_id])[agent_id] >= status.capacity:
            raise AssignmentError("full")
    previous = work.assignee_id
    if previous == agent_id:
        return
    work.assignee_id = agent_id
    work.assigned_at = (now or utcnow()) if agent_id else None
    db.session.flush()
    _log(work, "reassigned" if agent_id else "released", actor, previous=previous,
         assignee_id=agent_id, reason=reason)


def release(work: CaseWork, actor, reason: str = "") -> None:
    """Return a case to its queue."""
    assign(work, None, actor, reason=reason)


def move_to_queue(work: CaseWork, queue: Queue, actor, reason: str = "",
                  now: datetime | None = None) -> None:
    """Move a case to another queue (unassigned; SLA targets of the new queue)."""
    from portal.queues import sla

    previous = work.queue.slug if work.queue else None
    work.queue, work.queue_id = queue, queue.id
    work.assignee_id = None
    db.session.flush()
    sla.start(work, now)
    _log(work, "moved", actor, from_queue=previous, to_queue=queue.slug, reason=reason)
    if queue.strategy != Strategy.MANUAL:
        auto_assign(work, now)


def set_availability(user_id: int, available: bool, actor, *, capacity: int | None = None,
                     return_cases: bool = True) -> int:
    """Mark an agent available or away; away returns their open cases to the queues.

    Returns the number of cases returned.
    """
    status = status_of(user_id)
    status.available = bool(available)
    if capacity is not None:
        status.capacity = max(0, int(capacity))
    status.changed_at = utcnow()
    db.session.flush()
    audit.record("queue.availability", "staff", str(user_id), actor=actor,
                 available=bool(available), capacity=status.capacity)
    returned = 0
    if not available and return_cases:
        works = list(db.session.scalars(select(CaseWork).where(
            CaseWork.assignee_id == user_id, CaseWork.is_open.is_(True))))
        for work in works:
            work.assignee_id, work.assigned_at = None, None
            _log(work, "returned_to_queue", actor, previous=user_id, reason="agent away")
            returned += 1
        db.session.flush()
    return returned


def assign_waiting(limit: int = 200, now: datetime | None = None) -> int:
    """Hand unassigned cases of automatic queues to agents who have room (periodic)."""
    count = 0
    queues = db.session.scalars(select(Queue).where(Queue.strategy != Strategy.MANUAL,
                                                    Queue.active.is_(True)))
    for queue in queues:
        ids = list(db.session.scalars(_ordered_candidates(queue.id).limit(limit)))
        for case_id in ids:
            work = db.session.get(CaseWork, case_id)
            if auto_assign(work, now) is None:
                break
            count += 1
    return count
