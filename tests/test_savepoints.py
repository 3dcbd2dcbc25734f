"""Savepoints are sent as plain text (``install_plain_savepoints``): the same statements,
seen by the connection's events, and they keep or undo exactly their own writes."""

from __future__ import annotations

from sqlalchemy import event, func, select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import Suppression


def _suppress(address: str) -> None:
    db.session.add(Suppression(channel="sms", address=address, reason="test",
                               created_at=utcnow()))
    db.session.flush()


def _addresses() -> set[str]:
    return set(db.session.scalars(select(Suppression.address)))


def test_savepoint_statements_are_sent_and_seen(app_ctx):
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    _suppress("+8613800000001")  # pysqlite: a savepoint needs an earlier write
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        with db.session.begin_nested():
            _suppress("+8613800000002")
        nested = db.session.begin_nested()
        _suppress("+8613800000003")
        nested.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    kinds = [s.split()[0] + (" " + s.split()[1] if s.startswith(("RELEASE", "ROLLBACK")) else "")
             for s in statements if "SAVEPOINT" in s]
    assert kinds == ["SAVEPOINT", "RELEASE SAVEPOINT", "SAVEPOINT", "ROLLBACK TO"]
    names = {s.rsplit(" ", 1)[1] for s in statements if "SAVEPOINT" in s}
    assert all(name.startswith("sa_savepoint_") for name in names)


def test_a_released_savepoint_keeps_its_writes_and_a_rolled_back_one_undoes_them(app_ctx):
    _suppress("+8613800000001")
    with db.session.begin_nested():
        _suppress("+8613800000002")
    nested = db.session.begin_nested()
    _suppress("+8613800000003")
    nested.rollback()
    db.session.commit()
    assert _addresses() == {"+8613800000001", "+8613800000002"}
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 2
