"""Background import job: runs a stored upload, records progress and the outcome.

The upload is stored and its batch committed (pending) before the job is queued, so a
worker restart loses nothing: ``resume_pending`` (periodic, and ``flask parcels resume``)
queues again the batches left pending or running for longer than
``PARCEL_IMPORT_STALE_MINUTES``.

``register_tasks(celery_app)`` adds the task and its beat entry; ``portal.tasks`` calls it
for every app (web processes and workers alike).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.parcels import services
from portal.parcels.models import ImportStatus, ParcelImport

log = logging.getLogger("portal.parcels")

IMPORT_TASK = "portal.parcels.import_batch"
RESUME_TASK = "portal.parcels.resume_pending"


def run_batch_job(batch_id: int, on_progress=None) -> str:
    """Run a pending batch from its stored file; commit the result. Returns the status."""
    batch = db.session.get(ParcelImport, batch_id)
    if batch is None or batch.status not in (ImportStatus.PENDING, ImportStatus.RUNNING):
        return batch.status if batch else "missing"
    batch.status = ImportStatus.RUNNING
    batch.started_at = utcnow()
    batch.phase = "reading"
    db.session.commit()

    def progress(b, rows, fraction, phase):
        services.report_progress(b, rows, fraction, phase)
        if on_progress is not None:
            on_progress(b, rows, fraction, phase)

    try:
        services.execute(batch, progress)
        db.session.commit()
    except services.ParcelError as error:
        db.session.rollback()
        services.mark_failed(batch_id, error.code)
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.exception("parcel import %s failed", batch_id)
        services.mark_failed(batch_id, "internal", f"{type(error).__name__}: {error}")
        db.session.commit()
        raise
    return db.session.get(ParcelImport, batch_id).status


def resume_pending() -> int:
    """Queue again batches left pending/running by a stopped worker; returns how many."""
    minutes = int(current_app.config.get("PARCEL_IMPORT_STALE_MINUTES", 30))
    cutoff = utcnow() - timedelta(minutes=minutes)
    stale = list(db.session.scalars(select(ParcelImport.id).where(
        ParcelImport.status.in_([ImportStatus.PENDING, ImportStatus.RUNNING]),
        ParcelImport.stored_path.is_not(None),
        ParcelImport.created_at < cutoff)))
    for batch_id in stale:
        batch = db.session.get(ParcelImport, batch_id)
        batch.status = ImportStatus.PENDING
    db.session.commit()
    for batch_id in stale:
        enqueue(batch_id)
    return len(stale)


def register_tasks(celery_app) -> None:
    """Add the import task and the periodic resume to ``celery_app`` (idempotent)."""
    from portal.tasks import register_task

    if IMPORT_TASK in celery_app.tasks:
        return
    register_task(celery_app, IMPORT_TASK, run_batch_job, acks_late=True)
    seconds = float(celery_app.flask_app.config.get("PARCEL_IMPORT_RESUME_SECONDS", 300))
    register_task(celery_app, RESUME_TASK, resume_pending, every_seconds=seconds)


def enqueue(batch_id: int) -> None:
    """Queue the import of a committed batch (eager in tests and with CELERY_ALWAYS_EAGER)."""
    current_app.extensions["celery"].tasks[IMPORT_TASK].delay(batch_id)
