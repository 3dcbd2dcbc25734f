"""Periodic work of the queues: the SLA check (at risk, breached, escalation once),
routing cases left unrouted, handing waiting cases to agents with room, and keeping the
business calendars filled from the package for this year and the next.

Registered by ``portal.tasks.register_feature_tasks`` through ``register_tasks``; the
same job runs with ``flask queues check`` (e.g. from cron).
"""

from __future__ import annotations

from portal.extensions import db

CHECK = "portal.queues.check"


def check_job() -> dict:
    """One run: route, assign, escalate; commit. Recorded in ``JobRun``."""
    from portal.queues import assignment, escalation, routing
    from portal.tasks import record_job

    record_job(CHECK, started=True)
    try:
        routed = routing.route_unrouted()
        assigned = assignment.assign_waiting()
        counts = escalation.check_sla()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        record_job(CHECK, error=repr(error))
        raise
    record_job(CHECK, succeeded=True)
    return {"routed": routed, "assigned": assigned, **counts}


def register_tasks(celery_app) -> None:
    """Add the check to ``celery_app`` and to its beat schedule."""
    from portal.tasks import register_task

    if CHECK in celery_app.tasks:
        return
    config = getattr(getattr(celery_app, "flask_app", None), "config", {})
    seconds = float(config.get("QUEUES_CHECK_SECONDS", 60))
    register_task(celery_app, CHECK, check_job, every_seconds=seconds)
