"""Dispatch of committed outbox rows to the background worker.

SQLAlchemy session events: ``after_flush`` notes that the transaction wrote outbox rows
(in ``session.info``), ``after_commit`` enqueues one ``deliver_outbox`` task per commit when
``OUTBOX_DISPATCH == "celery"``, and a rollback of the outer transaction
(``after_soft_rollback``) forgets. Enqueueing happens only
after the commit, so a worker never looks for rows that do not exist yet. A failure to
enqueue is logged and otherwise ignored: the periodic sweep delivers the rows anyway.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_app_context
from flask_sqlalchemy.session import Session
from sqlalchemy import event

log = logging.getLogger("portal.notifications.dispatch")

FLAG = "portal_outbox_written"
ROWS = "portal_outbox_rows"  # rows written by set-based fan-out in this transaction
_installed = False


def _after_flush(session, _flush_context) -> None:
    from portal.notifications.models import OutboxMessage

    written = sum(1 for obj in session.new if isinstance(obj, OutboxMessage))
    if written:
        # Counted like fan-out rows, so a large notify() also gets several workers.
        note_outbox_rows(session, written)


def note_outbox_rows(session, count: int) -> None:
    """Record that a bulk statement (fan-out) wrote ``count`` outbox rows: the ORM does not
    see them in ``session.new``. After the commit, enough delivery tasks are queued for
    several workers to share the batches."""
    session.info[FLAG] = True
    session.info[ROWS] = session.info.get(ROWS, 0) + count


def tasks_for(rows: int, config) -> int:
    """How many delivery tasks to queue for ``rows`` new rows: one per batch, at most
    ``OUTBOX_PARALLEL_TASKS`` (each task keeps leasing batches until nothing is due)."""
    batch = max(1, int(config.get("OUTBOX_BATCH_SIZE", 100)))
    most = max(1, int(config.get("OUTBOX_PARALLEL_TASKS", 4)))
    return max(1, min(most, -(-rows // batch)))


def _after_commit(session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: commit comes later
        return
    rows = session.info.pop(ROWS, 0)
    if not session.info.pop(FLAG, False):
        return
    if not has_app_context() or current_app.config.get("OUTBOX_DISPATCH") != "celery":
        return
    enqueue_delivery(current_app, tasks_for(rows, current_app.config))


def _after_soft_rollback(session, previous_transaction) -> None:
    # a savepoint rolled back keeps the outer transaction's rows: only the root forgets
    if previous_transaction.parent is None and not previous_transaction.nested:
        session.info.pop(FLAG, None)
        session.info.pop(ROWS, None)


def enqueue_delivery(app: Flask, count: int = 1) -> bool:
    """Queue ``count`` ``deliver_outbox`` tasks; log and return False when the broker
    fails."""
    from portal.tasks import DELIVER_OUTBOX

    try:
        task = app.extensions["celery"].tasks[DELIVER_OUTBOX]
        for _ in range(max(1, count)):
            task.apply_async()
    except Exception:
        log.exception("could not enqueue outbox delivery; the periodic sweep will send it",
                      extra={"event": "outbox.enqueue_failed"})
        return False
    return True


def init_dispatch(app: Flask) -> None:
    """Install the session hooks (once per process; they act per app via its config)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    _installed = True
