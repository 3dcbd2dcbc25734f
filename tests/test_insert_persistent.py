"""portal.db.insert_persistent: one Core INSERT, then an ordinary persistent object with
every column loaded; a rollback (of the transaction or of a savepoint) forgets it."""

from __future__ import annotations

from sqlalchemy import event, func, select

from portal.db import insert_persistent, utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage, Suppression


def _row(key: str = "k1") -> dict:
    return {"idempotency_key": key, "channel": "sms", "recipient": "+8613800138000",
            "language": "en", "template": "t", "event_key": "e", "body_text": "hello",
            "status": "pending", "attempts": 0, "next_attempt_at": utcnow()}


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_the_object_is_persistent_and_fully_loaded(app_ctx):
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        row = insert_persistent(db.session, OutboxMessage, _row())
        values = [getattr(row, c.key) for c in OutboxMessage.__table__.columns]
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
    assert row in db.session and row.id and values[0] == row.id
    assert row.provider is None  # a column left out gets its default (None here)
    row.status = "sent"  # changes are tracked like any loaded object's
    db.session.commit()
    assert db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_a_rollback_forgets_the_object(app_ctx):
    row = insert_persistent(db.session, OutboxMessage, _row())
    db.session.rollback()
    assert row not in db.session and _count() == 0
    again = insert_persistent(db.session, OutboxMessage, _row())  # may reuse the same id
    db.session.commit()
    assert again in db.session and _count() == 1


def test_a_savepoint_rollback_forgets_only_its_own_rows(app_ctx):
    if db.engine.dialect.name == "sqlite":
        db.session.add(Suppression(channel="sms", address="+1", reason="x"))
        db.session.flush()  # pysqlite: a savepoint needs an earlier write
    kept = insert_persistent(db.session, OutboxMessage, _row("kept"))
    nested = db.session.begin_nested()
    inner = insert_persistent(db.session, OutboxMessage, _row("inner"))
    nested.rollback()
    assert kept in db.session and inner not in db.session
    db.session.commit()
    assert db.session.scalars(select(OutboxMessage.idempotency_key)).all() == ["kept"]


def test_insert_new_skips_taken_keys_without_a_savepoint(app_ctx):
    from portal.db import insert_new

    insert_persistent(db.session, OutboxMessage, _row("taken"))
    db.session.commit()
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        written = insert_new(db.session, OutboxMessage, [_row("taken"), _row("new1"),
                                                         _row("new2")], "idempotency_key")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert [r.idempotency_key for r in written] == ["new1", "new2"]
    assert len(statements) == 1 and "ON CONFLICT" in statements[0]  # the rows in one INSERT
    assert all(r.id and r in db.session for r in written)
    db.session.commit()
    assert _count() == 3


def test_insert_new_writes_many_rows_in_chunks_and_repeated_keys_once(app_ctx):
    from portal.db import insert_new

    insert_persistent(db.session, OutboxMessage, _row("taken"))
    keys = [f"k{n:02d}" for n in range(11)] + ["taken"]
    written = insert_new(db.session, OutboxMessage, [_row(k) for k in keys], "idempotency_key")
    assert [r.idempotency_key for r in written] == keys[:-1]  # 8 + 4 rows, in order
    stored = dict(db.session.execute(select(OutboxMessage.idempotency_key,
                                            OutboxMessage.id)).all())
    assert all(stored[r.idempotency_key] == r.id for r in written)
    again = insert_new(db.session, OutboxMessage, [_row("dup"), _row("dup"), _row("k00")],
                       "idempotency_key", attach=False)
    assert [(r["idempotency_key"], r["id"]) for r in again] == [("dup", again[0]["id"])]
    db.session.commit()
    assert _count() == 13


def test_insert_new_yields_to_a_key_another_transaction_committed(app, app_ctx):
    from sqlalchemy.orm import Session

    from portal.db import insert_new

    with Session(db.engine) as other:  # another connection writes the key and commits
        other.add(OutboxMessage(**_row("raced")))
        other.commit()
    written = insert_new(db.session, OutboxMessage, [_row("raced"), _row("mine")],
                         "idempotency_key")
    db.session.commit()
    assert [r.idempotency_key for r in written] == ["mine"] and _count() == 2


def _observed(work):
    """Run ``work`` with a statement listener attached (which makes portal.db use
    SQLAlchemy's own execution) and return what it returns."""
    def note(*_args):
        pass

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        return work()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _stored(key: str) -> tuple:
    columns = [c for c in OutboxMessage.__table__.columns
               if c.key not in ("id", "idempotency_key")]
    return tuple(db.session.execute(select(*columns).where(
        OutboxMessage.idempotency_key == key)).one())


def test_direct_and_sqlalchemy_execution_store_the_same_values(app_ctx):
    from datetime import UTC, datetime, timedelta, timezone

    from portal.db import insert_together
    from portal.db_direct import _PREPARED

    moment = datetime(2026, 11, 26, 20, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
    values = {**_row(), "next_attempt_at": moment, "body_html": "<p>你好 ☃</p>",
              "subject": "Ünïcode", "attempts": 3, "created_at": moment, "updated_at": moment}
    direct = insert_persistent(db.session, OutboxMessage, {**values, "idempotency_key": "d"})
    assert any(key[0].table is OutboxMessage.__table__ for key in _PREPARED
               if hasattr(key[0], "table"))  # the direct path ran
    via_sqlalchemy = _observed(lambda: insert_persistent(
        db.session, OutboxMessage, {**values, "idempotency_key": "s"}))
    insert_together(db.session, [(OutboxMessage, [{**values, "idempotency_key": f"m{i}"}
                                                   for i in range(3)])])
    db.session.commit()
    db.session.expire_all()
    assert direct.id != via_sqlalchemy.id
    reference = _stored("s")
    assert _stored("d") == reference == _stored("m0") == _stored("m2")
    assert db.session.get(OutboxMessage, direct.id).next_attempt_at == moment.astimezone(UTC)


def test_direct_execution_raises_sqlalchemys_integrity_error(app_ctx):
    import pytest
    from sqlalchemy.exc import IntegrityError

    insert_persistent(db.session, OutboxMessage, _row("once"))
    db.session.commit()
    with pytest.raises(IntegrityError):
        insert_persistent(db.session, OutboxMessage, _row("once"))
    db.session.rollback()
    assert _count() == 1


def test_direct_execution_binds_json_booleans_and_times_as_sqlalchemy_does(app_ctx):
    from portal.queues.models import RoutingRule

    values = {"position": 7, "name": "规则 ✓", "enabled": False,
              "conditions": {"kind": ["claim"], "keywords": ["投诉", "12305"], "n": 1.5},
              "actions": {"queue": "delay-claims", "tags": []}, "updated_at": utcnow()}
    direct = insert_persistent(db.session, RoutingRule, values)
    via_sqlalchemy = _observed(lambda: insert_persistent(db.session, RoutingRule, values))
    db.session.commit()
    db.session.expire_all()
    columns = [c for c in RoutingRule.__table__.columns if c.key != "id"]
    stored = {row.id: tuple(row)[1:] for row in db.session.execute(
        select(RoutingRule.id, *columns))}
    assert stored[direct.id] == stored[via_sqlalchemy.id]
    assert stored[direct.id][:4] == (7, "规则 ✓", False, values["conditions"])
