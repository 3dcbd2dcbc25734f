"""Declarative base, naming conventions and portable column types."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, TypeDecorator, text
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model; constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone support and returns naive values; PostgreSQL returns aware
    ones. Either way the application only ever sees aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Refuse naive datetimes and normalise aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_TAKE_WRITE_LOCK = text("UPDATE job_run SET runs = runs WHERE 0")


def begin_write(session) -> None:
    """Make the session's transaction a writer from its first statement (SQLite only).

    A request that reads, then writes, inside one SQLite transaction can fail at once with
    "database is locked" when another connection commits in between (WAL snapshots cannot
    be upgraded). Calling this first takes the write lock up front, waiting under the busy
    timeout like ``BEGIN IMMEDIATE``. PostgreSQL needs nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().execute(_TAKE_WRITE_LOCK)


def _complete(table, values: dict) -> dict:
    """Every column of ``table`` but an unset primary key: the given value (aware
    datetimes in UTC, as they read back), else the column's default."""
    full = {}
    for column in table.columns:
        if column.key in values:
            value = values[column.key]
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC)
            full[column.key] = value
        elif not column.primary_key:
            default = column.default
            if default is None:
                full[column.key] = None
            elif default.is_callable:
                full[column.key] = default.arg(None)
            else:
                full[column.key] = default.arg
    return full


_INSERTS: dict = {}


def _insert_of(table):
    """The table's INSERT statement, built once (its cache key is then computed once)."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = table.insert()
    return statement


def insert_persistent(session, model, values: dict):
    """INSERT one row with a Core statement and return it as a persistent object of
    ``session`` with every column loaded (reading it costs no query).

    For paths that write a few rows on every request (filing a claim, routing it, its
    confirmation): the ORM's unit of work costs several times the INSERT itself there.
    No ORM events fire for the row (no ``before_flush``/``after_flush``): a caller whose
    peers rely on those must tell them (see ``portal.cases.filing.case_filed``)."""
    from sqlalchemy.orm import make_transient_to_detached, scoped_session
    from sqlalchemy.orm.attributes import set_committed_value

    if isinstance(session, scoped_session):
        session = session()
    table = model.__table__
    full = _complete(table, values)
    result = session.connection().execute(_insert_of(table), full)
    for key, value in zip(table.primary_key.columns.keys(), result.inserted_primary_key,
                          strict=True):
        full[key] = value
    obj = model()
    for key, value in full.items():
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    session.add(obj)
    # The session takes it for a row that existed before: if the transaction (or the
    # savepoint) is rolled back, the object must go, as a flushed new object would.
    session.info.setdefault(_INSERTED, []).append(
        (session.get_nested_transaction() or session.get_transaction(), obj))
    return obj


_INSERTED = "portal_inserted_rows"


def _forget_rolled_back(session, previous_transaction) -> None:
    rows = session.info.get(_INSERTED)
    if not rows:
        return
    kept = []
    for transaction, obj in rows:
        inside = transaction
        while inside is not None and inside is not previous_transaction:
            inside = inside.parent
        if inside is None:
            kept.append((transaction, obj))
        elif obj in session:
            session.expunge(obj)
    session.info[_INSERTED] = kept


def _forget_committed(session) -> None:
    session.info.pop(_INSERTED, None)


def listen_once(target, name: str, handler) -> None:
    """``event.listen`` unless ``handler`` already listens (create_app runs many times in
    one process: tests, CLI)."""
    from sqlalchemy import event

    if not event.contains(target, name, handler):
        event.listen(target, name, handler)


def install_session_hooks() -> None:
    """Register the listeners ``insert_persistent`` needs."""
    from sqlalchemy.orm import Session

    listen_once(Session, "after_soft_rollback", _forget_rolled_back)
    listen_once(Session, "after_commit", _forget_committed)


def insert_rows(session, model, rows: list[dict]) -> None:
    """INSERT rows with one Core statement (defaults filled in as ``insert_persistent``
    does); nothing is loaded into the session."""
    if rows:
        table = model.__table__
        session.connection().execute(_insert_of(table),
                                     [_complete(table, row) for row in rows])
