"""A real Celery worker: on Redis (dispatch after commit, retry after a failure) and on the
embedded filesystem transport. Each message must be sent exactly once."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from conftest import service_unavailable
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import delivery
from portal.notifications.models import OutboxMessage
from portal.notifications.services import Recipient, notify

REDIS_TEST_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/15"


def redis_or_skip() -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
        client.flushdb()
    except Exception as error:
        service_unavailable(f"Redis unreachable at {REDIS_TEST_URL}: {error}")


def sms_ids(folder: Path) -> list[int]:
    return sorted(json.loads(p.read_text())["id"] for p in (folder / "sms").glob("*.json"))


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def queue(n: int, event: str) -> list[int]:
    rows = notify("test_message", [Recipient("sms", f"+86139001{i:05d}", "en")
                                   for i in range(n)], {"title": "T", "body": "B"}, event)
    db.session.commit()  # dispatch after commit enqueues deliver_outbox
    return [r.id for r in rows]


def statuses() -> dict[int, str]:
    db.session.rollback()  # a fresh snapshot: the worker commits in its own session
    return {r.id: r.status for r in db.session.scalars(select(OutboxMessage))}


@pytest.fixture
def worker_app(make_app, tmp_path):
    def build(broker: str):
        return make_app(CELERY_BROKER_URL=broker, CELERY_ALWAYS_EAGER=False,
                        OUTBOX_DISPATCH="celery", OUTBOX_FOLDER=str(tmp_path / "outbox"),
                        CELERY_DATA_FOLDER=str(tmp_path / "celery"))

    return build


@pytest.mark.redis
def test_dispatch_after_commit_delivers_exactly_once_on_redis(worker_app, tmp_path):
    redis_or_skip()
    app = worker_app(REDIS_TEST_URL)
    celery = app.extensions["celery"]
    with app.app_context(), start_worker(celery, perform_ping_check=False):
        ids = queue(3, "ev:redis:1")
        assert wait_for(lambda: set(statuses().values()) == {"sent"})
        time.sleep(0.5)  # a duplicate task would have delivered by now
    assert sms_ids(tmp_path / "outbox") == sorted(ids)


@pytest.mark.redis
def test_rollback_enqueues_nothing(worker_app):
    redis_or_skip()
    import redis

    app = worker_app(REDIS_TEST_URL)
    with app.app_context():
        notify("test_message", [Recipient("sms", "+8613900100000", "en")],
               {"title": "T", "body": "B"}, "ev:redis:rb")
        db.session.rollback()
        db.session.commit()
    queued = redis.Redis.from_url(REDIS_TEST_URL).lrange("celery", 0, -1)
    assert queued == []


@pytest.mark.redis
def test_task_failing_mid_batch_then_retried_sends_each_message_once(worker_app, tmp_path,
                                                                     monkeypatch):
    redis_or_skip()
    app = worker_app(REDIS_TEST_URL)
    celery = app.extensions["celery"]
    real = delivery.deliver_one
    calls = {"n": 0}

    def fail_once(message_id, adapters):
        calls["n"] += 1
        if calls["n"] == 2:  # the worker dies in the middle of the first batch
            raise ConnectionError("database connection lost")
        return real(message_id, adapters)

    monkeypatch.setattr(delivery, "deliver_one", fail_once)
    with app.app_context(), start_worker(celery, perform_ping_check=False):
        ids = queue(3, "ev:redis:2")
        # first run: 1 sent, 1 in flight (stays leased), 1 released; the retry sends it
        assert wait_for(lambda: sorted(statuses().values()) == ["sending", "sent", "sent"])
        in_flight = next(i for i, s in statuses().items() if s == "sending")
        # the lease of the row in flight expires; the periodic recovery brings it back
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == in_flight).values(
            lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        celery.tasks["portal.recover_stuck_outbox"].apply_async()
        assert wait_for(lambda: set(statuses().values()) == {"sent"})
        time.sleep(0.5)
    assert sms_ids(tmp_path / "outbox") == sorted(ids)


def test_filesystem_transport_worker_picks_up_a_dispatched_delivery(worker_app, tmp_path):
    app = worker_app("filesystem://")
    celery = app.extensions["celery"]
    assert celery.conf.broker_transport_options["data_folder_in"].startswith(str(tmp_path))
    with app.app_context(), start_worker(celery, perform_ping_check=False):
        ids = queue(2, "ev:fs:1")
        assert wait_for(lambda: set(statuses().values()) == {"sent"})
    assert sms_ids(tmp_path / "outbox") == sorted(ids)
    assert (tmp_path / "celery" / "queue" / "processed").is_dir()


def test_enqueue_failure_never_breaks_the_commit(make_app, tmp_path):
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_ALWAYS_EAGER=False,
                   OUTBOX_DISPATCH="celery", OUTBOX_FOLDER=str(tmp_path / "outbox"))
    with app.app_context():
        ids = queue(1, "ev:nobroker")
        assert statuses() == {ids[0]: "pending"}  # committed; the sweep will send it
        assert delivery.deliver_due() == {"leased": 1, "sent": 1}
