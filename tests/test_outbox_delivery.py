"""deliver_due, backoff, max attempts, stuck leases, retry_failed, concurrent leases, CLI."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.notifications import delivery
from portal.notifications.adapters import Outcome, ProviderResult
from portal.notifications.models import DeliveryAttempt, OutboxMessage, Suppression
from portal.notifications.services import Recipient, notify

CTX = {"title": "T", "body": "B"}


@pytest.fixture(autouse=True)
def own_outbox_folder(app, tmp_path):
    """Each test writes to its own folder, so file counts are this test's."""
    app.config["OUTBOX_FOLDER"] = str(tmp_path / "outbox")


def make_messages(n: int, channel: str = "sms", event: str = "ev") -> list[int]:
    recipients = [Recipient(channel, f"+86138001{i:05d}" if channel == "sms"
                            else f"p{i}@example.com", "en") for i in range(n)]
    rows = notify("test_message", recipients, CTX, event)
    db.session.commit()
    return [r.id for r in rows]


def sms_files(app) -> list[dict]:
    folder = Path(app.config["OUTBOX_FOLDER"]) / "sms"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def make_due(ids=None):
    query = update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    if ids:
        query = query.where(OutboxMessage.id.in_(ids))
    db.session.execute(query)
    db.session.commit()


class Flaky:
    """Adapter stand-in that answers from a script (beside the real-peer tests)."""

    name = "scripted"

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def send(self, message):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        return ProviderResult(outcome, self.name, provider_id=f"X{self.calls}",
                              error_code=None if outcome == Outcome.SENT else "503")


@pytest.fixture
def scripted(monkeypatch):
    def install(outcomes):
        adapter = Flaky(outcomes)
        monkeypatch.setattr(delivery, "get_adapter", lambda channel: adapter)
        return adapter

    return install


def test_folder_delivery_writes_each_message_once(app_ctx):
    ids = make_messages(3)
    assert delivery.deliver_due() == {"leased": 3, "sent": 3}
    assert delivery.deliver_due() == {"leased": 0}
    files = sms_files(app_ctx)
    assert sorted(f["id"] for f in files) == sorted(ids)
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert all(r.status == "sent" and r.sent_at and r.provider_id and r.attempts == 1
               for r in rows)
    assert len(db.session.scalars(select(DeliveryAttempt)).all()) == 3


def test_retry_with_backoff_then_success(app_ctx, scripted):
    app_ctx.config.update(OUTBOX_RETRY_BASE_SECONDS=60, OUTBOX_RETRY_MAX_SECONDS=3600)
    [message_id] = make_messages(1)
    adapter = scripted([Outcome.RETRY, Outcome.RETRY, Outcome.SENT])
    before = utcnow()
    assert delivery.deliver_due() == {"leased": 1, "pending": 1}
    row = db.session.get(OutboxMessage, message_id)
    first_delay = (row.next_attempt_at - before).total_seconds()
    assert 30 <= first_delay <= 61 and row.status == "pending" and row.attempts == 1
    assert delivery.deliver_due() == {"leased": 0}  # not due yet
    make_due()
    before = utcnow()
    delivery.deliver_due()
    row = db.session.get(OutboxMessage, message_id)
    second_delay = (row.next_attempt_at - before).total_seconds()
    assert 60 <= second_delay <= 121  # doubled
    make_due()
    assert delivery.deliver_due() == {"leased": 1, "sent": 1}
    row = db.session.get(OutboxMessage, message_id)
    assert row.status == "sent" and row.attempts == 3 and adapter.calls == 3
    outcomes = [a.outcome for a in row.attempt_log]
    assert outcomes == ["retry", "retry", "sent"]


def test_max_attempts_turns_retry_into_failed(app_ctx, scripted):
    app_ctx.config["OUTBOX_MAX_ATTEMPTS"] = 2
    [message_id] = make_messages(1)
    scripted([Outcome.RETRY, Outcome.RETRY, Outcome.SENT])
    delivery.deliver_due()
    make_due()
    assert delivery.deliver_due() == {"leased": 1, "failed": 1}
    make_due()
    assert delivery.deliver_due() == {"leased": 0}
    assert db.session.get(OutboxMessage, message_id).status == "failed"


def test_adapter_exception_is_a_retry_not_a_loss(app_ctx, monkeypatch):
    [message_id] = make_messages(1)

    class Broken:
        name = "broken"

        def send(self, message):
            raise RuntimeError("boom")

    monkeypatch.setattr(delivery, "get_adapter", lambda channel: Broken())
    assert delivery.deliver_due() == {"leased": 1, "pending": 1}
    row = db.session.get(OutboxMessage, message_id)
    assert "boom" in row.last_error and row.error_code == "exception"


def test_suppressed_right_before_sending_is_never_sent(app_ctx):
    [message_id] = make_messages(1)
    db.session.add(Suppression(channel="sms", address="+8613800100000", reason="STOP"))
    db.session.commit()
    assert delivery.deliver_due() == {"leased": 1, "suppressed": 1}
    assert sms_files(app_ctx) == []
    assert db.session.get(OutboxMessage, message_id).status == "suppressed"


def test_recover_stuck_returns_expired_leases_only(app_ctx):
    ids = make_messages(2)
    leased = delivery.lease_due(10)
    assert sorted(leased) == sorted(ids)
    assert delivery.lease_due(10) == []  # leased rows are not taken twice
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == ids[0]).values(
        lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert delivery.recover_stuck() == 1
    statuses = {r.id: r.status for r in db.session.scalars(select(OutboxMessage))}
    assert statuses == {ids[0]: "pending", ids[1]: "sending"}
    assert delivery.deliver_due() == {"leased": 1, "sent": 1}


def test_reconcile_hook_prevents_a_resend(app_ctx, monkeypatch):
    [message_id] = make_messages(1)
    delivery.lease_due(10)
    db.session.execute(update(OutboxMessage).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert delivery.reconcile_before_resend(db.session.get(OutboxMessage, message_id)) is False
    monkeypatch.setattr(delivery, "reconcile_before_resend", lambda message: True)
    delivery.recover_stuck()
    assert db.session.get(OutboxMessage, message_id).status == "sent"
    assert delivery.deliver_due() == {"leased": 0}


def test_retry_failed_puts_rows_back(app_ctx, scripted):
    app_ctx.config["OUTBOX_MAX_ATTEMPTS"] = 1
    ids = make_messages(2)
    scripted([Outcome.FAILED, Outcome.FAILED, Outcome.SENT])
    delivery.deliver_due()
    assert delivery.retry_failed([ids[0]]) == 1
    db.session.commit()
    row = db.session.get(OutboxMessage, ids[0])
    assert row.status == "pending" and row.attempts == 0
    assert db.session.get(OutboxMessage, ids[1]).status == "failed"
    assert delivery.deliver_due() == {"leased": 1, "sent": 1}


def test_concurrent_leases_never_share_a_row(app, app_ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED concurrency is tested on PostgreSQL")
    make_messages(60)
    barrier = threading.Barrier(2)
    results: list[list[int]] = []
    errors = []

    def lease():
        try:
            with app.app_context():
                barrier.wait()
                results.append(delivery.lease_due(40))
                db.session.remove()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=lease) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    first, second = results
    assert not set(first) & set(second)
    assert len(first) <= 40 and len(second) <= 40
    assert len(first) + len(second) == 60


def test_a_lease_takes_at_most_the_batch_size_oldest_due_first(app_ctx):
    """One statement leases the batch (on PostgreSQL a subquery with SKIP LOCKED in
    ``WHERE id IN (...)`` could be run again per row and lease more than asked)."""
    ids = make_messages(30)
    first = delivery.lease_due(10)
    assert first == ids[:10]
    rows = delivery.lease_rows(15)
    assert [row.id for row in rows] == ids[10:25]
    assert {row.status for row in rows} == {"sending"}
    db.session.rollback()
    statuses = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
    assert [statuses[i] for i in ids] == ["sending"] * 25 + ["pending"] * 5


def test_sqlite_conditional_update_leases_each_row_once(app, app_ctx):
    """The portable path: a second lease finds nothing once the first committed."""
    make_messages(5)
    with app.app_context():
        first = delivery.lease_due(10)
        db.session.remove()
    with app.app_context():
        second = delivery.lease_due(10)
        db.session.remove()
    assert len(first) == 5 and second == []


def test_cli_deliver_status_and_retry(app, app_ctx, runner, scripted):
    make_messages(2)
    out = runner.invoke(args=["outbox", "status"]).output
    assert "pending" in out and "sms" in out and "oldest pending:" in out
    app.config["OUTBOX_MAX_ATTEMPTS"] = 1
    scripted([Outcome.FAILED, Outcome.SENT, Outcome.SENT])
    out = runner.invoke(args=["outbox", "deliver"]).output
    assert "leased=2" in out and "failed=1" in out and "sent=1" in out
    out = runner.invoke(args=["outbox", "retry-failed"]).output
    assert "requeued=1" in out
    out = runner.invoke(args=["outbox", "deliver"]).output
    assert "sent=1" in out


def test_deliver_task_records_job_health(app, app_ctx, monkeypatch):
    make_messages(1)
    celery = app.extensions["celery"]
    result = celery.tasks["portal.deliver_outbox"].apply().get()
    assert result["sent"] == 1
    db.session.rollback()  # end this session's snapshot: the task wrote in its own
    job = db.session.get(JobRun, "portal.deliver_outbox")
    assert job.runs == 1 and job.last_succeeded_at and job.failures == 0
    monkeypatch.setattr(delivery, "lease_rows", lambda n: (_ for _ in ()).throw(
        RuntimeError("database gone")))
    app.config["CELERY_ALWAYS_EAGER"] = True
    with pytest.raises(RuntimeError):
        celery.tasks["portal.deliver_outbox"].apply(retries=5).get()
    db.session.rollback()
    job = db.session.get(JobRun, "portal.deliver_outbox")
    assert job.failures >= 1 and "database gone" in job.last_error
