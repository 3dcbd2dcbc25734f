"""Statements sent to the database driver directly, for the few that run on every claim.

Filing a claim runs about fifteen small statements (the case and its rows, routing, the
confirmation's outbox rows, the look-ups before them). For each, SQLAlchemy's execution
(parameter construction, result set-up, events, the compiled-cache look-up) costs about
twice what the driver itself spends. Here a statement is compiled once per dialect and
parameter names, by SQLAlchemy, with the bind processors SQLAlchemy would apply, and run
on the session connection's DBAPI cursor, inside the session's transaction.

Driver errors are wrapped in SQLAlchemy's exception classes (``IntegrityError``...), as
callers expect. A statement goes through SQLAlchemy as usual when anything observes
statements (a ``before/after_cursor_execute`` listener, echo: SQL logging, tracing, the
tests that count statements), when it needs SQLAlchemy at execution time (expanding
``IN`` parameters, escaped parameter names) or when its result columns need processing.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


class Prepared:
    """A statement compiled once for one dialect and one set of parameter names."""

    __slots__ = ("defaults", "direct", "names", "plan", "positional", "processors", "returning",
                 "sql")

    def __init__(self, statement, dialect, keys: tuple[str, ...], many: bool):
        """Compile ``statement``; ``direct`` tells whether the driver can run it as is."""
        compiled = statement.compile(dialect=dialect, column_keys=list(keys),
                                     for_executemany=many)
        self.sql = compiled.string
        self.positional = compiled.positiontup if compiled.positional else None
        self.names = list(compiled.binds)
        self.returning = bool(getattr(compiled, "effective_returning", None))
        # Values built into the statement (a LIMIT, a comparison with a constant).
        self.defaults = {name: bind.effective_value for name, bind in compiled.binds.items()
                         if not bind.required}
        self.processors = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.processors[name] = process
        # The driver's parameters in order, each with its bind processor (or None).
        self.plan = tuple((name, self.processors.get(name)) for name in (
            self.positional if self.positional is not None else self.names))
        self.direct = not (compiled.post_compile_params or compiled.literal_execute_params
                           or compiled.escaped_bind_names) and not any(
            column.type.dialect_impl(dialect).result_processor(dialect, None) is not None
            for column in getattr(statement, "selected_columns", ()))

    def parameters(self, values: dict):
        """The driver's parameters for ``values`` (a list or a dict, as its style wants)."""
        defaults = self.defaults
        bound = []
        for name, process in self.plan:
            value = values[name] if name in values else defaults[name]
            bound.append(value if process is None else process(value))
        if self.positional is not None:
            return bound
        return dict(zip(self.names, bound, strict=True))


_PREPARED: dict = {}
_MAX_PREPARED = 1000


def observed(engine) -> bool:
    """Whether anything watches this engine's statements (a ``before/after_cursor_execute``
    listener, SQL echo): then every statement goes through SQLAlchemy, so it sees them all
    (here, and for the savepoints of ``portal.db_events`` and ``portal.db_savepoints``)."""
    dispatch = engine.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute or engine.echo)


def prepared(connection, statement, keys: tuple[str, ...], many: bool = False):
    """The prepared form of ``statement`` for this connection, or None when it must go
    through SQLAlchemy (see the module docstring)."""
    if observed(connection.engine):
        return None
    key = (statement, connection.dialect.name, keys, many)
    found = _PREPARED.get(key)
    if found is None:
        found = Prepared(statement, connection.dialect, keys, many)
        # Callers pass statements built once; a bound keeps a caller that builds one per
        # call from growing this without end (it then only loses the speed-up).
        if len(_PREPARED) < _MAX_PREPARED:
            _PREPARED[key] = found
    return found if found.direct else None


def run(connection, ready: Prepared, params):
    """Execute on the connection's DBAPI cursor (a list of parameter dicts runs
    ``executemany``); returns the open cursor."""
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        if isinstance(params, list):
            bound = [ready.parameters(row) for row in params]
            cursor.executemany(ready.sql, bound)
        else:
            bound = ready.parameters(params)
            cursor.execute(ready.sql, bound)
    except dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise DBAPIError.instance(ready.sql, bound, error, dialect.loaded_dbapi.Error,
                                  dialect=dialect) from error
    return cursor


def fetch_all(connection, statement, params: dict) -> list[tuple]:
    """Every row of a read statement, as tuples."""
    ready = prepared(connection, statement, tuple(params))
    if ready is None:
        return [tuple(row) for row in connection.execute(statement, params)]
    cursor = run(connection, ready, params)
    try:
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def write(connection, statement, params: dict | list[dict]) -> int:
    """Execute a write for one parameter dict or many (``executemany``); returns the
    driver's row count."""
    first = params[0] if isinstance(params, list) else params
    ready = prepared(connection, statement, tuple(first), isinstance(params, list))
    if ready is None:
        return connection.execute(statement, params).rowcount
    cursor = run(connection, ready, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def write_together(connection, items: list[tuple]) -> list:
    """Execute several writes ``(statement, params)`` (params: a dict, or a list of dicts
    for ``executemany``) in order, in one round trip where the driver can (psycopg's
    pipeline mode), one after the other otherwise. Returns, per item with a dict, the
    new row's key as ``insert_one`` finds it (RETURNING, else SQLite's rowid); None for
    a list. A failure raises SQLAlchemy's exception class, as ``run`` does."""
    readies = []
    for statement, params in items:
        first = params[0] if isinstance(params, list) else params
        readies.append(prepared(connection, statement, tuple(first), isinstance(params, list)))
    raw = connection.connection.dbapi_connection
    if len(items) < 2 or None in readies or not _pipelines(raw):
        return [_write_one(connection, ready, statement, params)
                for ready, (statement, params) in zip(readies, items, strict=True)]
    dialect = connection.dialect
    cursors, sql = [], ""
    try:
        with raw.pipeline():
            for ready, (_statement, params) in zip(readies, items, strict=True):
                cursor, sql = raw.cursor(), ready.sql
                cursors.append(cursor)
                if isinstance(params, list):
                    cursor.executemany(sql, [ready.parameters(row) for row in params])
                else:
                    cursor.execute(sql, ready.parameters(params))
        return [cursor.fetchone()[0] if ready.returning and not isinstance(params, list)
                else None for cursor, ready, (_s, params) in zip(cursors, readies, items,
                                                                 strict=True)]
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error,
                                  dialect=dialect) from error
    finally:
        for cursor in cursors:
            cursor.close()


def _pipelines(raw) -> bool:
    pipeline = getattr(raw, "pipeline", None)
    if pipeline is None:
        return False
    from psycopg import Pipeline

    return Pipeline.is_supported()


def _write_one(connection, ready, statement, params):
    """One write (``ready``: its prepared form, or None for SQLAlchemy); the new row's key
    for a dict of parameters, None for a list."""
    if ready is None:
        result = connection.execute(statement, params)
        return None if isinstance(params, list) else result.inserted_primary_key[0]
    cursor = run(connection, ready, params)
    try:
        if isinstance(params, list):
            return None
        return cursor.fetchone()[0] if ready.returning else cursor.lastrowid
    finally:
        cursor.close()


def insert_one(connection, statement, values: dict, key: str):
    """INSERT one row; returns its primary key ``key``: the given value, else the one the
    database chose (RETURNING, or SQLite's rowid)."""
    new_key = _write_one(connection, prepared(connection, statement, tuple(values)),
                         statement, values)
    return values.get(key, new_key)
