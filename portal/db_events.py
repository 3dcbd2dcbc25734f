"""Engine-level settings per database."""

import time

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from portal import db_direct
from portal.sqlite_writers import SQLITE_BUSY_SECONDS


def install_sqlite_pragmas(engine: Engine) -> None:
    """Enable foreign keys, WAL and a busy timeout on SQLite connections, and keep
    savepoints inside the caller's transaction.

    Python's sqlite3 driver begins a transaction only before the first write, and emits
    no ``BEGIN`` before a ``SAVEPOINT``: releasing a savepoint that came first would then
    commit it on its own. We emit ``BEGIN`` ourselves just before such a savepoint.
    (Beginning every transaction eagerly instead would give each request a read snapshot
    that SQLite refuses to upgrade to a write once another connection has committed:
    "database is locked" under concurrent writes.)
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        if ":memory:" not in str(engine.url):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "savepoint")
    def _begin_before_savepoint(connection, _name):
        dbapi_connection = connection.connection.dbapi_connection
        if not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN")


def install_plain_savepoints(engine: Engine) -> None:
    """Send ``SAVEPOINT``, ``RELEASE SAVEPOINT`` and ``ROLLBACK TO SAVEPOINT`` as plain SQL
    text instead of compiling a statement object for each.

    SQLAlchemy's dialect compiles a new savepoint clause every time (it has no cache
    key): for a claim, whose routing runs in a savepoint, that was a fifth of the
    routing's CPU. The text is the same as the compiled one; the statements still go
    through the connection, so events, logging and the session's bookkeeping see them.
    On SQLite, while nothing observes statements, they go to the driver directly; on
    PostgreSQL they wait for the next statement (``portal.db_savepoints``)."""
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    direct = dialect.name == "sqlite"

    def send(connection, statement: str) -> None:
        if not direct or db_direct.observed(engine):
            connection.exec_driver_sql(statement)
            return
        # SQLite, nothing observing statements: straight to the driver (a statement run
        # through SQLAlchemy costs several times what sqlite3 takes to run it), with its
        # errors wrapped as SQLAlchemy would wrap them.
        try:
            connection.connection.dbapi_connection.execute(statement)
        except dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error,
                                          dialect=dialect) from error

    def do_savepoint(connection, name):
        send(connection, f"SAVEPOINT {quote(name)}")

    def do_rollback_to_savepoint(connection, name):
        send(connection, f"ROLLBACK TO SAVEPOINT {quote(name)}")

    def do_release_savepoint(connection, name):
        send(connection, f"RELEASE SAVEPOINT {quote(name)}")

    # On the dialect instance of this engine only (the class is shared).
    dialect.do_savepoint = do_savepoint
    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint
    dialect.do_release_savepoint = do_release_savepoint
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        from portal.db_savepoints import install_deferred_savepoints

        install_deferred_savepoints(engine)


def install_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use when it has been idle for ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout: a round trip per request, most of
    them on a connection that answered a few milliseconds earlier. A connection that
    dies while idle (the database restarted, a proxy's idle timeout) is caught the same
    way: the failed test discards it and the pool hands out a new one (SQLAlchemy's
    documented disconnect handling). A connection that dies within ``idle_seconds`` of
    its last use fails that request, as it would mid-request anyway. 0 tests every
    checkout."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _note_return(dbapi_connection, record):
        if dbapi_connection is not None:
            record.info["portal_returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        returned = record.info.get("portal_returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"idle connection failed its test: {error}") \
                from error
