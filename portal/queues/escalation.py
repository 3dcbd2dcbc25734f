"""The periodic SLA check: cases at risk (e.g. 80% of a target used) and breached.

Each of the four stages (first response at risk / breached, resolution at risk /
breached) happens to a case at most once: its marker column is set with a conditional
``UPDATE ... WHERE marker IS NULL``, and only the run whose update changed the row acts.
Acting follows the queue's SLA policy (``on_risk`` / ``on_breach``; defaults
``QUEUES_RISK_ACTIONS`` and ``QUEUES_BREACH_ACTIONS``):

- ``notify_lead``: an email to the queue lead through the notifications core;
- ``raise_priority``: one step more urgent (the SLA targets of the new priority apply);
- ``move_escalation``: to the escalation queue.

Every escalation is written to the case's history and the audit log. Paused clocks
(waiting for the customer) are never escalated.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db
from portal.queues.models import CaseWork, Priority, Queue

log = logging.getLogger("portal.queues.escalation")

# stage -> (marker column, moment column, clock still running condition)
STAGES = {
    "response_at_risk": ("response_at_risk_at", "response_risk_at", "first_responded_at"),
    "response_breached": ("response_breached_at", "first_response_due_at", "first_responded_at"),
    "resolution_at_risk": ("resolution_at_risk_at", "resolution_risk_at", None),
    "resolution_breached": ("resolution_breached_at", "resolution_due_at", None),
}


def _actions(work: CaseWork, stage: str) -> list[str]:
    policy = work.sla_policy
    config = current_app.config
    if stage.endswith("at_risk"):
        configured = policy.on_risk if policy is not None and policy.on_risk else None
        return list(configured or config.get("QUEUES_RISK_ACTIONS", ["notify_lead"]))
    configured = policy.on_breach if policy is not None and policy.on_breach else None
    return list(configured or config.get("QUEUES_BREACH_ACTIONS",
                                         ["notify_lead", "raise_priority"]))


def _candidates(stage: str, now: datetime, limit: int) -> list[int]:
    marker, moment, done = (getattr(CaseWork, c) if c else None for c in STAGES[stage])
    query = (select(CaseWork.case_id).where(
        CaseWork.is_open.is_(True), moment <= now, marker.is_(None),
        CaseWork.paused_since.is_(None)).order_by(moment).limit(limit))
    if done is not None:
        query = query.where(done.is_(None))
    return list(db.session.scalars(query))


def _claim(case_id: int, stage: str, now: datetime) -> bool:
    marker = getattr(CaseWork, STAGES[stage][0])
    result = db.session.execute(update(CaseWork).where(CaseWork.case_id == case_id,
                                                       marker.is_(None))
                                .values({marker: now})
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1


def notify_lead(work: CaseWork, stage: str) -> bool:
    """Email the queue lead about the case."""
    from portal.notifications.services import Recipient, notify

    queue = work.queue
    lead = queue.lead if queue is not None else None
    if lead is None or not lead.email:
        return False
    case = work.case
    notify("queue_escalation", [Recipient("email", lead.email, lead.language or "zh_Hans")],
           {"reference": case.reference, "stage": stage, "queue": queue.slug,
            "priority": work.priority, "due_at": work.resolution_due_at,
            "first_response_due_at": work.first_response_due_at,
            "staff_path": f"/staff/cases/{case.reference}"},
           event_key=f"queue-sla:{case.reference}:{stage}")
    return True


def escalate(work: CaseWork, stage: str, now: datetime) -> list[str]:
    """Carry out the policy's actions for ``stage``; returns what was done."""
    from portal.cases.services import log_event
    from portal.queues import assignment, sla
    from portal.staff import audit

    done = []
    for action in _actions(work, stage):
        if action == "notify_lead" and notify_lead(work, stage):
            done.append(action)
        elif action == "raise_priority" and work.priority > Priority.URGENT:
            work.priority = int(work.priority) - 1
            sla.start(work, now)
            done.append(action)
        elif action == "move_escalation":
            target = db.session.scalar(select(Queue).where(Queue.is_escalation.is_(True),
                                                           Queue.active.is_(True)).limit(1))
            if target is not None and target.id != work.queue_id:
                assignment.move_to_queue(work, target, None, reason=stage, now=now)
                done.append(action)
    if stage.endswith("breached"):
        work.escalated = True
    log_event(work.case, f"sla_{stage}", actor_label="sla", actions=done)
    audit.record(f"queue.sla_{stage}", "case", work.case.reference, actor_label="system",
                 actions=done, priority=work.priority)
    db.session.flush()
    return done


def check_sla(now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Find at-risk and breached clocks and escalate each once. The caller commits."""
    now = now or utcnow()
    counts = {}
    for stage in STAGES:
        count = 0
        for case_id in _candidates(stage, now, limit):
            if not _claim(case_id, stage, now):
                continue  # another run got it first
            work = db.session.get(CaseWork, case_id)
            db.session.refresh(work)
            escalate(work, stage, now)
            count += 1
        counts[stage] = count
    return counts
