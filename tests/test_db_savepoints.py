"""Deferred savepoints on PostgreSQL (``portal/db_savepoints.py``): a savepoint costs no
round trip of its own, yet keeps or undoes exactly its writes, frames a failed statement,
never outlives its transaction and never lets a failed transaction commit.

The behaviour tests run on both databases (SQLite sends savepoints at once: the same
results must hold); those about what reaches the server run on PostgreSQL only."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from portal.db import insert_together, utcnow
from portal.extensions import db
from portal.notifications.models import Suppression
from tests.test_db_events import _addresses, _suppress


def _row(address: str) -> dict:
    return {"channel": "sms", "address": address, "reason": "test", "created_at": utcnow()}


def _postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("deferral is for PostgreSQL's round trips; SQLite sends at once")


def _sent(monkeypatch) -> list[tuple[str, bool]]:
    """Every statement psycopg sends from now on, with whether it went in a pipeline."""
    import psycopg
    from psycopg import pq

    sent = []
    real = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        in_pipeline = self.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
        sent.append((str(query).split("\n")[0], in_pipeline))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return sent


def test_nested_savepoints_keep_and_undo_exactly_their_own_writes(app_ctx):
    _suppress("+8613800000001")
    with db.session.begin_nested():
        _suppress("+8613800000002")
        inner = db.session.begin_nested()
        _suppress("+8613800000003")
        inner.rollback()
        with db.session.begin_nested():
            _suppress("+8613800000004")
    empty = db.session.begin_nested()  # nothing written under it
    empty.rollback()
    with db.session.begin_nested():
        pass
    db.session.commit()
    assert _addresses() == {"+8613800000001", "+8613800000002", "+8613800000004"}


def test_a_failed_statement_is_undone_and_the_transaction_goes_on(app_ctx):
    _suppress("+8613800000001")
    with pytest.raises(IntegrityError), db.session.begin_nested():
        _suppress("+8613800000001")  # the same address again: refused
    _suppress("+8613800000002")
    db.session.commit()
    assert _addresses() == {"+8613800000001", "+8613800000002"}


def test_a_released_savepoint_does_not_follow_into_the_next_transaction(app_ctx):
    with db.session.begin_nested():
        _suppress("+8613800000001")
    db.session.commit()
    # A stale RELEASE sent now would fail: the savepoint died with its transaction.
    with db.session.begin_nested():
        _suppress("+8613800000002")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_a_savepoint_travels_with_the_next_statement_and_its_release_with_the_commit(
        app_ctx, monkeypatch):
    _postgresql_only()
    _suppress("+8613800000001")
    sent = _sent(monkeypatch)
    with db.session.begin_nested():
        insert_together(db.session, [(Suppression, [_row("+8613800000002")]),
                                     (Suppression, [_row("+8613800000003")])])
    db.session.commit()
    savepoints = [(s, piped) for s, piped in sent if "SAVEPOINT" in s]
    assert len(savepoints) == 1  # no RELEASE: the COMMIT ends the savepoint
    assert savepoints[0][0].startswith("SAVEPOINT") and savepoints[0][1]  # in the pipeline
    assert _addresses() == {"+8613800000001", "+8613800000002", "+8613800000003"}


def test_a_savepoint_with_nothing_under_it_is_never_sent(app_ctx, monkeypatch):
    _postgresql_only()
    _suppress("+8613800000001")
    sent = _sent(monkeypatch)
    with db.session.begin_nested():
        pass
    rolled_back = db.session.begin_nested()
    rolled_back.rollback()
    _suppress("+8613800000002")
    db.session.commit()
    assert not [s for s, _ in sent if "SAVEPOINT" in s]
    assert _addresses() == {"+8613800000001", "+8613800000002"}


def test_a_failed_transaction_with_a_waiting_release_does_not_commit(app_ctx):
    _postgresql_only()
    with db.session.begin_nested():
        _suppress("+8613800000001")  # its RELEASE now waits
    raw = db.session.connection().connection.dbapi_connection
    # A named (server-side) cursor is the one path that does not send what waits first.
    with pytest.raises(Exception, match="division by zero"), raw.cursor(name="fails") as cur:
        cur.execute("SELECT 1 / 0")
        cur.fetchall()
    with pytest.raises(DBAPIError, match="aborted"):
        db.session.commit()
    db.session.rollback()
    assert _addresses() == set()


def test_a_release_in_a_failed_transaction_is_refused_at_once(app_ctx):
    _postgresql_only()
    _suppress("+8613800000001")
    # The error is swallowed inside the savepoint: its release must still fail.
    with pytest.raises(DBAPIError, match="aborted"), db.session.begin_nested(), \
            contextlib.suppress(DBAPIError):
        db.session.execute(text("SELECT 1 / 0"))
    db.session.rollback()
    assert _addresses() == set()
