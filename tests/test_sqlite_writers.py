"""portal.sqlite_writers: claim writers on SQLite take turns (threads and processes),
and a turn ends with the transaction, however it ends."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from portal import sqlite_writers
from portal.db import begin_write
from portal.extensions import db


@pytest.fixture
def sqlite_app(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL writers need no turns")
    return app


def _database(app) -> str:
    with app.app_context():
        return db.engine.url.database


def _holder(app, started: threading.Event, release: threading.Event, end: str):
    with app.app_context():
        begin_write(db.session)
        started.set()
        release.wait(5)
        if end == "commit":
            db.session.commit()
        elif end == "rollback":
            db.session.rollback()
        # "remove": the app context's teardown closes the session without either


@pytest.mark.parametrize("end", ["commit", "rollback", "remove"])
def test_a_second_writer_waits_until_the_first_transaction_ends(sqlite_app, end):
    started, release, second_in = threading.Event(), threading.Event(), threading.Event()
    first = threading.Thread(target=_holder, args=(sqlite_app, started, release, end))
    first.start()
    assert started.wait(5)

    def second():
        with sqlite_app.app_context():
            begin_write(db.session)
            second_in.set()
            db.session.rollback()

    waiting = threading.Thread(target=second)
    waiting.start()
    assert not second_in.wait(0.3)  # the first still holds the turn
    release.set()
    first.join(5)
    assert second_in.wait(5)  # released by the first transaction's end
    waiting.join(5)


def test_a_writer_in_another_process_is_waited_for(sqlite_app):
    lock_file = _database(sqlite_app) + "-writer.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({lock_file!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(0.5)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with sqlite_app.app_context():
            with pytest.raises(sqlite_writers.WriterBusy):
                sqlite_writers.take(db.session, _database(sqlite_app), timeout=0.1)
            started = time.monotonic()
            begin_write(db.session)  # waits for the other process to let go
            waited = time.monotonic() - started
            db.session.rollback()
        assert waited > 0.1
    finally:
        holder.wait(5)


def test_a_session_takes_its_turn_once_and_memory_databases_need_none(sqlite_app):
    with sqlite_app.app_context():
        begin_write(db.session)
        begin_write(db.session)  # the same transaction: no second wait (would deadlock)
        db.session.commit()
        begin_write(db.session)  # a new transaction takes a new turn
        db.session.rollback()
        sqlite_writers.take(db.session, ":memory:")
        assert sqlite_writers._KEY not in db.session().info
