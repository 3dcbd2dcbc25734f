"""portal.db_direct: statements run on the driver give what SQLAlchemy gives, and go
through SQLAlchemy whenever something observes statements or needs it at execution."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, event, select

from portal import db_direct
from portal.db import insert_rows
from portal.extensions import db
from portal.notifications.models import Suppression

_table = Suppression.__table__
_LIMITED = (select(_table.c.address).where(_table.c.channel == "sms",
                                           _table.c.address != bindparam("skip"))
            .order_by(_table.c.address).limit(2))
_EXPANDING = select(_table.c.address).where(
    _table.c.address.in_(bindparam("addresses", expanding=True))).order_by(_table.c.address)
_TIMES = select(_table.c.address, _table.c.created_at).order_by(_table.c.address)


def _seed():
    moment = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    insert_rows(db.session, Suppression, [
        {"channel": channel, "address": address, "reason": "test", "created_at": moment}
        for channel, address in (("sms", "+1"), ("sms", "+2"), ("sms", "+3"), ("email", "a@b"))])
    return moment


def _is_direct(statement, params) -> bool:
    return db_direct.prepared(db.session.connection(), statement, tuple(params)) is not None


def test_built_in_values_and_limits_run_directly_with_sqlalchemys_result(app_ctx):
    _seed()
    params = {"skip": "+2"}
    assert _is_direct(_LIMITED, params)
    rows = db_direct.fetch_all(db.session.connection(), _LIMITED, params)
    assert rows == [tuple(r) for r in db.session.execute(_LIMITED, params)] == [("+1",), ("+3",)]


def test_expanding_lists_and_processed_results_go_through_sqlalchemy(app_ctx):
    moment = _seed()
    params = {"addresses": ["+3", "a@b"]}
    assert not _is_direct(_EXPANDING, params)
    assert db_direct.fetch_all(db.session.connection(), _EXPANDING, params) == [("+3",), ("a@b",)]
    assert not _is_direct(_TIMES, {})  # a UTC timestamp is processed on the way out
    rows = db_direct.fetch_all(db.session.connection(), _TIMES, {})
    assert rows[0] == ("+1", moment) and rows[0][1].tzinfo is not None


def test_every_statement_is_seen_while_something_listens(app_ctx):
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        _seed()
        db_direct.fetch_all(db.session.connection(), _LIMITED, {"skip": "+2"})
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert seen == ["INSERT", "SELECT"]
    seen.clear()
    db_direct.fetch_all(db.session.connection(), _LIMITED, {"skip": "+2"})
    assert seen == []  # removed: direct again


def test_write_counts_the_rows_it_changed(app_ctx):
    _seed()
    statement = _table.update().where(_table.c.channel == bindparam("which")).values(
        reason=bindparam("why"))
    assert db_direct.write(db.session.connection(), statement, {"which": "sms", "why": "x"}) == 3
    db.session.commit()
    assert sorted(db.session.scalars(select(Suppression.reason)).all()) == ["test", "x", "x", "x"]
