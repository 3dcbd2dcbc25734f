"""SQLite writers queue for their turn, across threads and processes.

SQLite lets one connection write at a time. The others wait in its busy handler, which
sleeps between retries, and the sleeps get longer each time: 1, 2, 5, 10, 15, 20, 25 and
then up to 100 ms. With four concurrent claim submissions (gunicorn 2 workers x 4 threads),
that backoff, not the work, made the tail latency. The p99 was 160-240 ms against a p50 of
about 10 ms, where each claim's write takes 1-2 ms.

``portal.db.begin_write`` therefore takes a writer slot first:

- threads of one process wait on a lock, and the next one wakes as soon as it is free;
- processes wait on an advisory file lock beside the database (``<db>-writer.lock``),
  polled every half millisecond.

The slot is released when the session's transaction ends, by commit, rollback or close.
Writers that do not call ``begin_write`` (the background worker, staff pages) are not
queued here and wait in SQLite's busy handler as before. The wait is bounded by the same
timeout as SQLite's (``SQLITE_BUSY_SECONDS``), and then ``WriterBusy`` is raised.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, scoped_session

SQLITE_BUSY_SECONDS = 10.0  # also SQLite's busy_timeout (portal/db_events.py)
_POLL_SECONDS = 0.0005
_KEY = "portal_sqlite_writer_slot"


class WriterBusy(OperationalError):
    """No writer slot within the timeout (as SQLite's "database is locked")."""

    def __init__(self, path: str):
        """Name the database whose slot could not be taken."""
        super().__init__(f"writer slot of {path}", None, Exception("database is locked"))


class _Slot:
    """The writer slot of one database file in this process."""

    def __init__(self, path: str):
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, timeout: float) -> None:
        """Wait for the slot: first among this process's threads, then among processes."""
        deadline = time.monotonic() + timeout
        if not self.lock.acquire(timeout=timeout):
            raise WriterBusy(self.path)
        try:
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WriterBusy(self.path) from None
                    time.sleep(_POLL_SECONDS)
        except BaseException:
            self.lock.release()
            raise

    def release(self) -> None:
        """Give the slot to the next writer."""
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.lock.release()


_slots: dict[str, _Slot] = {}
_slots_lock = threading.Lock()


def _slot(path: str) -> _Slot:
    with _slots_lock:
        slot = _slots.get(path)
        # A forked worker must not share its parent's file description: a lock taken
        # through it would be the parent's too.
        if slot is None or slot.pid != os.getpid():
            slot = _slots[path] = _Slot(path)
        return slot


def take(session, path: str | None, timeout: float = SQLITE_BUSY_SECONDS) -> None:
    """Hold the writer slot of the SQLite file ``path`` until ``session``'s transaction
    ends (nothing for an in-memory database, or when the session already holds it)."""
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return
    if isinstance(session, scoped_session):
        session = session()
    if _KEY in session.info:
        return
    slot = _slot(os.path.abspath(path))
    slot.acquire(timeout)
    session.info[_KEY] = slot


def _release(session: Session, transaction) -> None:
    if transaction.parent is None:
        slot = session.info.pop(_KEY, None)
        if slot is not None:
            slot.release()


def install() -> None:
    """Release slots when transactions end."""
    from portal.db import listen_once

    listen_once(Session, "after_transaction_end", _release)
