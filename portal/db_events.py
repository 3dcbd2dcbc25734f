"""Engine-level settings per database."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


def install_sqlite_pragmas(engine: Engine) -> None:
    """Enable foreign keys, WAL and a busy timeout on SQLite connections, and make
    transactions explicit.

    Python's sqlite3 driver emits no ``BEGIN`` before a ``SAVEPOINT``, so releasing a
    savepoint that opened the transaction commits it. SQLAlchemy's documented recipe
    turns the driver's own transaction handling off and emits ``BEGIN`` itself, so
    savepoints (``begin_nested``) nest inside the caller's transaction as on PostgreSQL.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if ":memory:" not in str(engine.url):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")
