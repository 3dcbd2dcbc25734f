"""Engine settings (``portal/db_events.py``): savepoints are sent as plain text (the same
statements, seen by the connection's events, keeping or undoing exactly their own
writes); pooled connections are tested only after being idle, and one that died while
idle is replaced without the request noticing."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text

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


def _count_pings(app, monkeypatch) -> list:
    pings = []
    with app.app_context():
        dialect = db.engine.dialect
        real = dialect.do_ping

        def counted(dbapi_connection):
            pings.append(dbapi_connection)
            return real(dbapi_connection)

        monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


def _query(app) -> int:
    with app.app_context():
        value = db.session.scalar(text("SELECT 1"))
        db.session.remove()  # the connection goes back to the pool
        return value


def test_a_connection_used_a_moment_ago_is_not_tested(make_app, monkeypatch):
    app = make_app(DB_PING_IDLE_SECONDS=60)
    pings = _count_pings(app, monkeypatch)
    for _ in range(5):
        assert _query(app) == 1
    assert pings == []


def test_an_idle_connection_is_tested_before_use(make_app, monkeypatch):
    app = make_app(DB_PING_IDLE_SECONDS=0)  # every connection counts as idle
    pings = _count_pings(app, monkeypatch)
    for _ in range(3):
        assert _query(app) == 1
    assert len(pings) == 2  # the first checkout is a new connection


def test_a_connection_that_died_while_idle_is_replaced(make_app):
    app = make_app(DB_PING_IDLE_SECONDS=0)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("only a server can end a connection behind the pool's back")
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.remove()
    import psycopg

    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://",
                                                        "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with app.app_context():
        assert db.session.scalar(text("SELECT pg_backend_pid()")) != pid
        db.session.remove()


def test_a_refused_savepoint_statement_raises_sqlalchemys_error(app_ctx):
    from sqlalchemy.exc import DBAPIError

    _suppress("+8613800000001")
    connection = db.session.connection()
    with pytest.raises(DBAPIError, match="no_such_savepoint"):
        db.engine.dialect.do_rollback_to_savepoint(connection, "no_such_savepoint")
    db.session.rollback()
