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
_installed = False


def _after_flush(session, _flush_context) -> None:
    from portal.notifications.models import OutboxMessage

    if any(isinstance(obj, OutboxMessage) for obj in session.new):
        session.info[FLAG] = True


def _after_commit(session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: commit comes later
        return
    if not session.info.pop(FLAG, False):
        return
    if not has_app_context() or current_app.config.get("OUTBOX_DISPATCH") != "celery":
        return
    enqueue_delivery(current_app)


def _after_soft_rollback(session, previous_transaction) -> None:
    # a savepoint rolled back keeps the outer transaction's rows: only the root forgets
    if previous_transaction.parent is None and not previous_transaction.nested:
        session.info.pop(FLAG, None)


def enqueue_delivery(app: Flask) -> bool:
    """Queue one ``deliver_outbox`` task; log and return False when the broker fails."""
    from portal.tasks import DELIVER_OUTBOX

    try:
        app.extensions["celery"].tasks[DELIVER_OUTBOX].apply_async()
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
