"""Periodic work of the hotline: status callbacks that arrived before their message's
outcome was written (outcomes are written in bulk, or by reconciliation after a crash)
are applied once the message carries its Twilio id.

Registered by ``portal.tasks.register_feature_tasks`` through ``register_tasks``, every
``HOTLINE_STATUS_SWEEP_SECONDS``.
"""

from __future__ import annotations

from portal.extensions import db

STATUS_SWEEP = "portal.hotline.status_sweep"


def status_sweep_job() -> dict:
    """Apply unmatched status callbacks; commit. Recorded in ``JobRun``."""
    from portal.hotline.services import apply_unmatched_statuses
    from portal.tasks import record_job

    record_job(STATUS_SWEEP, started=True)
    try:
        applied = apply_unmatched_statuses()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        record_job(STATUS_SWEEP, error=repr(error))
        raise
    record_job(STATUS_SWEEP, succeeded=True)
    return {"applied": applied}


def register_tasks(celery_app) -> None:
    """Add the sweep to ``celery_app`` and to its beat schedule."""
    from portal.tasks import register_task

    config = getattr(getattr(celery_app, "flask_app", None), "config", {})
    seconds = float(config.get("HOTLINE_STATUS_SWEEP_SECONDS", 30))
    register_task(celery_app, STATUS_SWEEP, status_sweep_job, every_seconds=seconds)
