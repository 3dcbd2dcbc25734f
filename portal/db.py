"""Declarative base, naming conventions and portable column types."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, TypeDecorator, text
from sqlalchemy.orm import DeclarativeBase

from portal import db_direct

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
    timeout like ``BEGIN IMMEDIATE``. Writers calling this queue for their turn first
    (``portal.sqlite_writers``: no busy-handler backoff between them). PostgreSQL needs
    nothing.
    """
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        from portal import sqlite_writers

        connection = session.connection()  # the transaction whose end releases the turn
        sqlite_writers.take(session, bind.url.database)
        db_direct.write(connection, _TAKE_WRITE_LOCK, {})


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


def _real_session(session):
    from sqlalchemy.orm import scoped_session

    return session() if isinstance(session, scoped_session) else session


def _attach(session, model, full: dict):
    """``full`` (every column, with the primary key) as a loaded persistent object."""
    from sqlalchemy.orm import make_transient_to_detached
    from sqlalchemy.orm.attributes import instance_state

    obj = model()
    # As SQLAlchemy's loader fills an object from a row: the values straight into the
    # instance dict, which make_transient_to_detached then marks as loaded and unmodified
    # (``set_committed_value`` per column does that one attribute at a time, at several
    # times the cost).
    instance_state(obj).dict.update(full)
    make_transient_to_detached(obj)
    session.add(obj)
    # The session takes it for a row that existed before: if the transaction (or the
    # savepoint) is rolled back, the object must go, as a flushed new object would.
    session.info.setdefault(_INSERTED, []).append(
        (session.get_nested_transaction() or session.get_transaction(), obj))
    return obj


def insert_persistent(session, model, values: dict):
    """INSERT one row with a Core statement (sent to the driver directly: ``db_direct``)
    and return it as a persistent object of ``session`` with every column loaded (reading
    it costs no query). ``model`` has a single-column primary key.

    For paths that write a few rows on every request (filing a claim, routing it, its
    confirmation): the ORM's unit of work costs several times the INSERT itself there.
    No ORM events fire for the row (no ``before_flush``/``after_flush``): a caller whose
    peers rely on those must tell them (see ``portal.cases.filing.case_filed``)."""
    session = _real_session(session)
    table = model.__table__
    full = _complete(table, values)
    (key,) = table.primary_key.columns.keys()
    full[key] = db_direct.insert_one(session.connection(), _insert_of(table), full, key)
    return _attach(session, model, full)


def _insert_or_skip(table, unique: str, dialect, count: int = 1):
    """``INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING id, unique`` of ``count``
    rows (parameters ``<column>__<n>``; just ``<column>`` for one row) as a text
    statement with typed parameters: the same on PostgreSQL and SQLite, and cached
    (SQLAlchemy's ``on_conflict_do_nothing`` construct is compiled again on every
    execution)."""
    key = (table, unique, dialect.name, count)
    statement = _INSERTS.get(key)
    if statement is None:
        from sqlalchemy import bindparam

        quote = dialect.identifier_preparer.quote
        key_column = table.primary_key.columns[0]
        columns = [c for c in table.columns if c is not key_column]
        names = [[c.key if count == 1 else f"{c.key}__{n}" for c in columns]
                 for n in range(count)]
        rows = ", ".join("(" + ", ".join(":" + name for name in row) + ")" for row in names)
        # Only the model's own table and column names go into the text; values are bound.
        statement = text(
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "  # noqa: S608
            f"VALUES {rows} "
            f"ON CONFLICT ({quote(table.c[unique].name)}) DO NOTHING "
            f"RETURNING {quote(key_column.name)}, {quote(table.c[unique].name)}"
        ).bindparams(*[bindparam(name, type_=column.type) for row in names
                       for name, column in zip(row, columns, strict=True)])
        _INSERTS[key] = statement
    return statement


_ROWS_PER_INSERT = 8  # several rows per statement: one round trip for a message's recipients


def insert_new(session, model, rows: list[dict], unique: str, attach: bool = True) -> list:
    """INSERT ``rows``, skipping any whose ``unique`` column value is already taken
    (``ON CONFLICT DO NOTHING``: a concurrent transaction that wrote it first wins, with
    no savepoint); returns the inserted rows as loaded persistent objects (as
    ``insert_persistent``), in the order given. ``model`` has a single-column primary
    key; ``unique`` is a text column (rows are matched to their new keys by its value).
    Up to eight rows go in one statement.

    ``attach=False`` returns the values written (each with its new key) instead, for a
    caller that only needs the rows written: attaching costs as much as the INSERT."""
    session = _real_session(session)
    table = model.__table__
    key_name = table.primary_key.columns[0].key
    dialect = session.get_bind().dialect
    connection = session.connection()
    complete = [_complete(table, row) for row in rows]
    if len({full[unique] for full in complete}) < len(complete):
        chunks = [[full] for full in complete]  # repeated keys: the first of each wins
    else:
        chunks = [complete[i:i + _ROWS_PER_INSERT]
                  for i in range(0, len(complete), _ROWS_PER_INSERT)]
    written = []
    for chunk in chunks:
        statement = _insert_or_skip(table, unique, dialect, len(chunk))
        if len(chunk) == 1:
            params = chunk[0]
        else:
            params = {f"{name}__{n}": value for n, full in enumerate(chunk)
                      for name, value in full.items()}
        new_ids = {value: new_id for new_id, value in
                       db_direct.fetch_all(connection, statement, params)}
        for full in chunk:
            if full[unique] in new_ids:
                full[key_name] = new_ids[full[unique]]
                written.append(_attach(session, model, full) if attach else full)
    return written


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
    """Register the listeners ``insert_persistent`` and the SQLite writer slots need."""
    from sqlalchemy.orm import Session

    from portal import sqlite_writers

    listen_once(Session, "after_soft_rollback", _forget_rolled_back)
    listen_once(Session, "after_commit", _forget_committed)
    sqlite_writers.install()


def as_persistent(session, model, full: dict):
    """A row written by ``insert_together`` (every column, with the primary key) as a
    loaded persistent object of ``session``, as ``insert_persistent`` returns it."""
    return _attach(_real_session(session), model, full)


def insert_together(session, groups: list[tuple]) -> list[list[dict]]:
    """INSERT the rows of several tables, ``[(model, rows), ...]`` in that order, in one
    round trip on PostgreSQL (``db_direct.write_together``); defaults filled in as
    ``insert_persistent`` does. Returns each group's rows as written; a group of one row
    in a table with a one-column primary key also gets its new key. Nothing is loaded
    into the session (``as_persistent`` does that for a row wanted as an object)."""
    session = _real_session(session)
    written, items, singles = [], [], []
    for model, rows in groups:
        table = model.__table__
        full = [_complete(table, row) for row in rows]
        written.append(full)
        if full:
            items.append((_insert_of(table), full[0] if len(full) == 1 else full))
            singles.append((table, full[0]) if len(full) == 1 else None)
    keys = db_direct.write_together(session.connection(), items)
    for single, key in zip(singles, keys, strict=True):
        names = single[0].primary_key.columns.keys() if single is not None else ()
        if len(names) == 1 and single[1].get(names[0]) is None:
            single[1][names[0]] = key
    return written
