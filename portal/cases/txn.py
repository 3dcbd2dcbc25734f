"""Write requests on SQLite: take the write lock at the start of the transaction.

The foundation emits a plain (deferred) ``BEGIN`` on SQLite. A request that reads first
and writes later then holds a read snapshot; in WAL mode, if another connection commits in
between, the upgrade to a write fails at once with "database is locked" (the busy
timeout does not help: the snapshot is stale). Claim submissions read (replay and
duplicate checks) and then write, and arrive concurrently on incident day, so their
transaction starts with a statement that writes nothing but takes the write lock,
waiting under the busy timeout like ``BEGIN IMMEDIATE``. PostgreSQL needs nothing.
"""

from __future__ import annotations

from sqlalchemy import text

from portal.extensions import db


def begin_write() -> None:
    """On SQLite, make the current transaction a writer from its first statement."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE customer_case SET id = id WHERE 0"))
