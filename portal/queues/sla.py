"""SLA clocks in business time of the queue's calendar.

- A case's clocks start when it is routed (``start``): first response and resolution
  targets come from the queue's ``SlaPolicy`` for the case's priority, else from
  ``QUEUES_SLA_DEFAULTS``. Due times are ``add_business(started, target + paused)``.
- The clocks pause while the case waits for the customer and while it is resolved; when
  the case comes back (the customer answers, or reopens it) the business time spent
  paused is added to ``paused_seconds`` and the due times move by it (``on_state``).
- The first staff reply stops the first-response clock (``on_first_response``).
- ``risk_at``: the moment ``at_risk_percent`` of a target is used, for the periodic check.
- The legal clock of the claims feature (calendar days, ``customer_case.legal_due_at``)
  is shown beside these and is never paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_app_context
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.queues import calendars
from portal.queues.models import CaseWork, Queue, SlaPolicy

PAUSED_STATES = ("waiting_customer", "resolved")
OPEN_STATES = ("new", "open", "waiting_customer")
# minutes (first response, resolution) per priority: urgent, high, normal, low
BUILTIN_DEFAULTS = {1: (60, 480), 2: (240, 960), 3: (480, 2400), 4: (960, 4800)}


def current_time() -> datetime:
    """Now, for state changes observed by the hooks (tests replace it)."""
    return utcnow()


def defaults() -> dict[int, tuple[int, int]]:
    """Targets per priority when a queue has no policy (``QUEUES_SLA_DEFAULTS``)."""
    if has_app_context():
        configured = current_app.config.get("QUEUES_SLA_DEFAULTS")
        if configured:
            return {int(k): (int(v[0]), int(v[1])) for k, v in configured.items()}
    return BUILTIN_DEFAULTS


def calendar_of(queue: Queue | None) -> calendars.WorkCalendar:
    """The working calendar of a queue (the default one when it has none)."""
    return calendars.load(queue.calendar if queue is not None else None)


def policy_for(queue: Queue | None, priority: int) -> SlaPolicy | None:
    """The queue's policy for this priority, if any."""
    if queue is None:
        return None
    return db.session.scalar(select(SlaPolicy).where(SlaPolicy.queue_id == queue.id,
                                                     SlaPolicy.priority == priority))


def at_risk_percent(work: CaseWork) -> int:
    """Share of a target after which the case is "at risk"."""
    if work.sla_policy is not None:
        return int(work.sla_policy.at_risk_percent)
    return int(current_app.config.get("QUEUES_AT_RISK_PERCENT", 80)) if has_app_context() \
        else 80


def start(work: CaseWork, now: datetime | None = None,
          cal: calendars.WorkCalendar | None = None) -> None:
    """(Re)set the targets for the work's queue and priority and compute due times.

    Keeps the start time and pauses already counted: a case moved to another queue or
    priority keeps the time it has used.
    """
    now = now or utcnow()
    queue = work.queue if work.queue is not None or work.queue_id is None else \
        db.session.get(Queue, work.queue_id)
    policy = policy_for(queue, work.priority)
    first, resolution = ((policy.first_response_minutes, policy.resolution_minutes)
                         if policy is not None else defaults()[int(work.priority)])
    work.sla_policy = policy
    work.sla_policy_id = policy.id if policy is not None else None
    work.first_response_minutes, work.resolution_minutes = first, resolution
    if work.sla_started_at is None:
        work.sla_started_at = now
    recompute(work, cal or calendar_of(queue))


def recompute(work: CaseWork, cal: calendars.WorkCalendar) -> None:
    """Due times from the start, the targets and the business time spent paused."""
    if work.sla_started_at is None or work.first_response_minutes is None:
        return
    paused = int(work.paused_seconds or 0)
    work.first_response_due_at = cal.add_business(
        work.sla_started_at, work.first_response_minutes * 60 + paused)
    work.resolution_due_at = cal.add_business(
        work.sla_started_at, work.resolution_minutes * 60 + paused)
    work.response_risk_at, work.resolution_risk_at = risk_times(work, cal)


def risk_times(work: CaseWork, cal: calendars.WorkCalendar) -> tuple[datetime, datetime]:
    """When each clock reaches its at-risk share."""
    share = at_risk_percent(work) / 100
    paused = int(work.paused_seconds or 0)
    return (cal.add_business(work.sla_started_at, work.first_response_minutes * 60 * share
                             + paused),
            cal.add_business(work.sla_started_at, work.resolution_minutes * 60 * share
                             + paused))


def pause(work: CaseWork, now: datetime) -> None:
    """Stop the clocks (waiting for the customer, or resolved)."""
    if work.paused_since is None:
        work.paused_since = now


def resume(work: CaseWork, now: datetime, cal: calendars.WorkCalendar | None = None) -> None:
    """Restart the clocks; the paused business time moves the due times."""
    if work.paused_since is None:
        return
    cal = cal or calendar_of(work.queue)
    work.paused_seconds = int(work.paused_seconds or 0) + int(
        max(0.0, cal.business_seconds(work.paused_since, now)))
    work.paused_since = None
    recompute(work, cal)


def on_state(work: CaseWork, old: str | None, new: str, now: datetime | None = None) -> None:
    """Keep the mirror and the clocks in step with the case's state."""
    now = now or current_time()
    work.state = new
    work.is_open = new in OPEN_STATES
    if new == "resolved":
        work.resolved_at = now
    elif old == "resolved" and new in OPEN_STATES:
        work.resolved_at = None  # reopened
    if new in PAUSED_STATES:
        pause(work, now)
    elif new in OPEN_STATES:
        resume(work, now)


def on_first_response(work: CaseWork, when: datetime) -> None:
    """The first public reply: the first-response clock stops."""
    if work.first_responded_at is None:
        work.first_responded_at = when


@dataclass(frozen=True)
class ClockView:
    """One clock as the case page and queue list show it."""

    name: str
    due_at: datetime | None
    done_at: datetime | None
    paused: bool
    left_seconds: float | None  # business seconds (negative: overdue)
    used_percent: int | None
    state: str  # ok | at_risk | breached | met | missed | paused | none


def _view(name: str, work: CaseWork, due: datetime | None, target: int | None,
          done: datetime | None, now: datetime, cal: calendars.WorkCalendar) -> ClockView:
    if due is None or target is None or work.sla_started_at is None:
        return ClockView(name, None, done, False, None, None, "none")
    if done is not None:
        return ClockView(name, due, done, False, None, None, "met" if done <= due else "missed")
    paused = work.paused_since is not None
    until = work.paused_since if paused else now
    used = cal.business_seconds(work.sla_started_at, until) - int(work.paused_seconds or 0)
    percent = int(100 * used / (target * 60)) if target else 0
    left = target * 60 - used
    state = ("paused" if paused else "breached" if left < 0 else
             "at_risk" if percent >= at_risk_percent(work) else "ok")
    return ClockView(name, due, None, paused, left, percent, state)


def clocks(work: CaseWork | None, now: datetime | None = None,
           cal: calendars.WorkCalendar | None = None) -> list[ClockView]:
    """First-response and resolution clocks of a case."""
    if work is None:
        return []
    now = now or utcnow()
    cal = cal or calendar_of(work.queue)
    return [
        _view("first_response", work, work.first_response_due_at, work.first_response_minutes,
              work.first_responded_at, now, cal),
        _view("resolution", work, work.resolution_due_at, work.resolution_minutes,
              work.resolved_at if work.state in ("resolved", "closed") else None, now, cal),
    ]
