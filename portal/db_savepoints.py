"""Savepoints that cost no round trip of their own on PostgreSQL (psycopg).

A savepoint is two statements, ``SAVEPOINT`` and ``RELEASE SAVEPOINT``, each a round trip
to the server, whatever runs between them. Routing a new claim runs in one (a routing
failure must not lose the claim) around a single pipelined write: three round trips where
one carries the work. Here both statements wait on the connection until something needs
them, and most of the time nothing does:

- ``SAVEPOINT`` is sent just before the next statement, by the connection's cursors (the
  only way statements reach the server); inside a psycopg pipeline it joins the pipeline.
- ``RELEASE SAVEPOINT`` is sent before the next statement too, or dropped at ``COMMIT``
  and ``ROLLBACK``, which end every savepoint of the transaction anyway.
- A savepoint released or rolled back before anything was sent under it is dropped whole.

While anything observes statements (a ``before/after_cursor_execute`` listener, SQL
logging), savepoints are sent at once, through SQLAlchemy, as ``db_direct`` does.

What the server sees is the same sequence of statements, minus savepoints that framed
nothing and releases that the end of the transaction makes redundant. A release is sent
at once when the transaction has already failed (the server refuses it, as before), and a
commit with a release waiting in a failed transaction sends it, so the error is raised,
never turned into a silent rollback.
"""

from __future__ import annotations

from psycopg import Cursor
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Engine

from portal import db_direct

_PENDING = "_portal_pending_savepoints"


def _pending(raw) -> list[tuple[str, str]]:
    """The statements waiting on ``raw`` (a psycopg connection): ``(verb, name)``."""
    pending = getattr(raw, _PENDING, None)
    if pending is None:
        pending = []
        setattr(raw, _PENDING, pending)
    return pending


def _defer(raw, verb: str, name: str) -> None:
    # The cursor factory is set here rather than on connect, so that no connection can
    # hold a statement back without cursors that send it (one made before this was
    # installed, say).
    if raw.cursor_factory is not DeferredSavepointCursor:
        raw.cursor_factory = DeferredSavepointCursor
    _pending(raw).append((verb, name))


def _text(verb: str, name: str) -> str:
    return f"SAVEPOINT {name}" if verb == "savepoint" else f"RELEASE SAVEPOINT {name}"


def send_pending(raw) -> None:
    """Send the statements waiting on ``raw`` now, in order (inside a pipeline they join
    it). For code that reaches the server without a cursor of the connection."""
    pending = getattr(raw, _PENDING, None)
    if pending:
        items = list(pending)
        pending.clear()
        with Cursor(raw) as cursor:
            for verb, name in items:
                cursor.execute(_text(verb, name))


class DeferredSavepointCursor(Cursor):
    """A psycopg cursor that sends the connection's waiting savepoint statements before
    its own."""

    def execute(self, *args, **kwargs):
        """As psycopg's, after the waiting statements."""
        if getattr(self._conn, _PENDING, None):
            send_pending(self._conn)
        return super().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        """As psycopg's, after the waiting statements."""
        if getattr(self._conn, _PENDING, None):
            send_pending(self._conn)
        return super().executemany(*args, **kwargs)

    def copy(self, *args, **kwargs):
        """As psycopg's, after the waiting statements."""
        if getattr(self._conn, _PENDING, None):
            send_pending(self._conn)
        return super().copy(*args, **kwargs)

    def stream(self, *args, **kwargs):
        """As psycopg's, after the waiting statements."""
        if getattr(self._conn, _PENDING, None):
            send_pending(self._conn)
        return super().stream(*args, **kwargs)


def _failed(raw) -> bool:
    return raw.info.transaction_status == TransactionStatus.INERROR


def install_deferred_savepoints(engine: Engine) -> None:
    """Defer ``SAVEPOINT`` and ``RELEASE SAVEPOINT`` on this psycopg engine's connections
    (see the module docstring). Replaces the dialect's savepoint methods on this engine's
    dialect instance only."""
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    plain_savepoint = dialect.do_savepoint

    def raw_of(connection):
        return connection.connection.dbapi_connection

    def do_savepoint(connection, name):
        if db_direct.observed(engine):
            plain_savepoint(connection, name)
            return
        _defer(raw_of(connection), "savepoint", quote(name))

    def do_release_savepoint(connection, name):
        raw, name = raw_of(connection), quote(name)
        pending = _pending(raw)
        if ("savepoint", name) in pending:  # nothing was sent under it
            del pending[pending.index(("savepoint", name)):]
            return
        _defer(raw, "release", name)
        # A failed transaction: the server refuses it, raise now as without deferral.
        if _failed(raw) or db_direct.observed(engine):
            waiting = list(pending)
            pending.clear()
            for verb, waiting_name in waiting:
                connection.exec_driver_sql(_text(verb, waiting_name))

    def do_rollback_to_savepoint(connection, name):
        raw, name = raw_of(connection), quote(name)
        pending = _pending(raw)
        if ("savepoint", name) in pending:  # never sent: nothing to undo on the server
            del pending[pending.index(("savepoint", name)):]
            return
        # Whatever waits concerns savepoints inside this one, which the rollback ends.
        pending.clear()
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")

    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection):
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        pending = getattr(raw, _PENDING, None)
        if pending:
            if _failed(raw):
                send_pending(raw)  # raises: the transaction failed, it must not commit
            pending.clear()  # COMMIT ends every savepoint
        plain_commit(dbapi_connection)

    def do_rollback(dbapi_connection):
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        pending = getattr(raw, _PENDING, None)
        if pending:
            pending.clear()
        plain_rollback(dbapi_connection)

    dialect.do_savepoint = do_savepoint
    dialect.do_release_savepoint = do_release_savepoint
    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint
    dialect.do_commit = do_commit
    dialect.do_rollback = do_rollback
