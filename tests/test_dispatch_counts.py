"""Rows written through the ORM count towards the number of delivery tasks, like fan-out."""

from portal.extensions import db
from portal.notifications.dispatch import ROWS, tasks_for
from portal.notifications.services import Recipient, notify


def test_orm_rows_are_counted_for_parallel_delivery(app_ctx):
    recipients = [Recipient("email", f"r{i}@example.com", "en") for i in range(250)]
    notify("test_message", recipients, {"name": "x"}, "dispatch-count-1")
    db.session.flush()
    assert db.session.info[ROWS] == 250
    config = {"OUTBOX_BATCH_SIZE": 100, "OUTBOX_PARALLEL_TASKS": 4}
    assert tasks_for(db.session.info[ROWS], config) == 3
