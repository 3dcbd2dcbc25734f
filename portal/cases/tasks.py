"""Background work of the claims feature.

- ``portal.cases.process_evidence``: re-encode large uploads (queued after the commit
  that stored them; a failure to queue is harmless, the periodic sweep finds them).
- ``portal.cases.sweep``: every ``CASES_SWEEP_SECONDS``, re-encode pending files left
  behind and close resolved cases whose reopen window has passed (asking for a rating).

``register_tasks(celery_app)`` adds both to each app's own Celery (``portal.tasks`` calls
it) with the sweep's beat entry. ``flask cases sweep`` runs the same job by hand.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from portal.extensions import db

log = logging.getLogger("portal.cases.tasks")

PROCESS_EVIDENCE = "portal.cases.process_evidence"
SWEEP = "portal.cases.sweep"


def process_evidence_job(ids: list[int]) -> dict[str, str]:
    """Re-encode the given pending files, one transaction each; delete originals after."""
    from portal.cases import evidence

    states = {}
    for evidence_id in ids:
        state, original = evidence.process(int(evidence_id))
        db.session.commit()
        if original:
            evidence.storage().delete(original)
        states[str(evidence_id)] = state
    return states


def sweep_job() -> dict:
    """Pending files and resolved cases past their reopen window."""
    from portal.cases.lifecycle import close_resolved
    from portal.cases.models import CaseEvidence, EvidenceState
    from portal.tasks import record_job

    record_job(SWEEP, started=True)
    try:
        pending = list(db.session.scalars(select(CaseEvidence.id).where(
            CaseEvidence.state == EvidenceState.PENDING).limit(200)))
        processed = process_evidence_job(pending)
        closed = close_resolved()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        record_job(SWEEP, error=repr(error))
        raise
    record_job(SWEEP, succeeded=True)
    return {"processed": len(processed), "closed": len(closed)}


def register_tasks(celery_app) -> None:
    """Add evidence re-encoding and the periodic sweep to this app's Celery."""
    from portal.tasks import register_task

    register_task(celery_app, PROCESS_EVIDENCE, process_evidence_job,
                  autoretry_for=(OSError,), max_retries=3, retry_backoff=2)
    seconds = float(celery_app.flask_app.config.get("CASES_SWEEP_SECONDS", 300))
    register_task(celery_app, SWEEP, sweep_job, every_seconds=seconds)


def enqueue_pending(ids: list[int]) -> None:
    """Queue re-encoding of files stored as pending (call after the commit)."""
    from portal.cases.models import CaseEvidence, EvidenceState

    pending = [i for i in ids if i and (row := db.session.get(CaseEvidence, i)) is not None
               and row.state == EvidenceState.PENDING]
    if not pending:
        return
    try:
        celery_app = current_app.extensions["celery"]
        celery_app.tasks[PROCESS_EVIDENCE].apply_async(args=[pending])
    except Exception:
        log.exception("could not queue evidence processing; the sweep will do it")
