"""portal.db_direct: statements run on the driver give what SQLAlchemy gives, and go
through SQLAlchemy whenever something observes statements or needs it at execution."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, event, select

from portal import db_direct
from portal.db import insert_together
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
    insert_together(db.session, [(Suppression, [
        {"channel": channel, "address": address, "reason": "test", "created_at": moment}
        for channel, address in (("sms", "+1"), ("sms", "+2"), ("sms", "+3"), ("email", "a@b"))])])
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


def _together_groups(case_id: int):
    from portal.cases.models import CaseEvent, CaseMessage
    from portal.queues.models import CaseTag

    moment = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    return [
        (CaseMessage, [{"case_id": case_id, "kind": "customer", "public": True,
                        "author_label": "customer", "body": "late", "created_at": moment}]),
        (CaseTag, [{"case_id": case_id, "tag": t, "source": "rule"} for t in ("a", "b")]),
        (CaseTag, []),  # an empty group writes nothing
        (CaseEvent, [{"case_id": case_id, "action": "created", "actor_label": "customer",
                      "detail": {"n": 1}, "created_at": moment}]),
    ]


def test_insert_together_writes_every_group_and_returns_new_keys(app_ctx):
    from sqlalchemy import func

    from portal.cases.models import CaseEvent, CaseMessage
    from portal.db import as_persistent, insert_together
    from portal.queues.models import CaseTag
    from tests.test_queues_support import new_case

    case = new_case(commit=False)
    written = insert_together(db.session, _together_groups(case.id))
    (message_row,), tags, empty, (event_row,) = written
    assert message_row["id"] and event_row["id"] and len(tags) == 2 and empty == []
    message = as_persistent(db.session, CaseMessage, message_row)
    assert message in db.session and message.body == "late"
    db.session.commit()
    assert db.session.get(CaseMessage, message_row["id"]).case_id == case.id
    assert db.session.get(CaseEvent, event_row["id"]).detail == {"n": 1}
    assert db.session.scalar(select(func.count()).select_from(CaseTag).where(
        CaseTag.case_id == case.id, CaseTag.source == "rule")) == 2


def test_insert_together_is_one_round_trip_on_postgresql_and_fails_as_a_whole(app_ctx,
                                                                              monkeypatch):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from portal.db import insert_together
    from tests.test_queues_support import new_case

    case = new_case(commit=False)
    raw = db.session.connection().connection.dbapi_connection
    if db.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's pipeline mode is the PostgreSQL path")
    pipelines = []
    real = type(raw).pipeline

    def counted(self):
        pipelines.append(self)
        return real(self)

    monkeypatch.setattr(type(raw), "pipeline", counted)
    insert_together(db.session, _together_groups(case.id))
    assert len(pipelines) == 1
    with pytest.raises(IntegrityError):  # the same tags again: the batch fails, wrapped
        insert_together(db.session, _together_groups(case.id))
    db.session.rollback()
