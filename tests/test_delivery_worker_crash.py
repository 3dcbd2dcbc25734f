"""A real Celery worker on Redis, killed at each point of a send, and every recipient still
gets exactly one message.

The worker runs in its own process (``python tests/test_delivery_worker_crash.py worker``)
with a test SMS adapter: it hands each message to Prism (Twilio's API contract) and, when a
flag file names a point, dies there with ``os._exit``:

- ``before_call``: after the row was leased, before the provider call;
- ``after_accept``: after Twilio (Prism) accepted the message, before the outcome is
  recorded;
- ``after_record``: right after the outcome was committed;
- ``after_accept:N``: after Twilio accepted the N-th message of this worker, with the
  outcomes of all N held in memory (outcomes are written in bulk, ``notifications.batch``)
  and none written.

Prism is stateless (it answers every list request with the same fixed example), so the
adapter also keeps a ledger file of what "Twilio" accepted (a unique sid per accepted
call); that ledger is both the proof of how many messages each recipient got and the
provider-side record that reconciliation reads (after the real list request to Prism, whose
contract is checked).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if __name__ != "__main__":
    import twilio_support
    from conftest import service_unavailable
    from sqlalchemy import select, update

    from portal.db import utcnow
    from portal.extensions import db
    from portal.notifications.models import DeliveryAttempt, OutboxMessage, Subscription
    from portal.notifications.services import notify_subscribers

    prism_server = twilio_support.prism_server
    pytestmark = [pytest.mark.redis, pytest.mark.prism]

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/12"
RECIPIENTS = ["+85291234561", "+85291234562", "+8613900000003", "+447911123456"]
KILLED = 17


# --- the worker process ------------------------------------------------------------------

def _worker_main() -> None:  # pragma: no cover - runs in the subprocess
    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(ROOT))
    from conftest import TEST_CONFIG
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from twilio_support import twilio_settings

    from portal import create_app
    from portal.notifications import delivery
    from portal.notifications.adapters.base import Outcome, ProviderResult
    from portal.notifications.adapters.twilio import TwilioSmsAdapter
    from portal.notifications.reconcile import SentRecord

    env = os.environ
    ledger = Path(env["CRASH_LEDGER"])
    state = {"die_after_commit": False, "accepted": 0}

    def point() -> str:
        return env.get("CRASH_DIE_AT", "")

    def die() -> None:
        os._exit(KILLED)

    class CrashingAdapter(TwilioSmsAdapter):
        """Twilio through Prism, with a ledger of accepted messages and kill points."""

        def send(self, message):
            if point() == "before_call":
                die()
            result = super().send(message)
            if result.outcome != Outcome.SENT:
                return result
            sid = "SM" + uuid.uuid4().hex  # Prism returns one fixed sid for every call
            with ledger.open("a") as handle:
                handle.write(json.dumps({"sid": sid, "to": message.recipient,
                                         "body": message.body_text, "row": message.id,
                                         "at": datetime.now(UTC).isoformat()}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            state["accepted"] += 1
            if point() == "after_accept" or point() == f"after_accept:{state['accepted']}":
                die()
            if point() == "after_record":
                state["die_after_commit"] = True
            return ProviderResult(Outcome.SENT, self.name, provider_id=sid,
                                  provider_status=result.provider_status)

        def sent_messages(self, to, since):
            prism = super().sent_messages(to, since)  # the real request, contract-checked
            if self.client.http_client.violations:
                for violation in self.client.http_client.violations:
                    if '"request"' in violation:
                        raise AssertionError(f"request broke the contract: {violation}")
            accepted = [json.loads(line) for line in ledger.read_text().splitlines()] \
                if ledger.exists() else []
            return prism + [SentRecord(sid=a["sid"], to=a["to"], body=a["body"],
                                       date_created=datetime.fromisoformat(a["at"]),
                                       status="queued") for a in accepted if a["to"] == to]

    def after_commit(_session):
        if state["die_after_commit"]:
            die()

    event.listen(Session, "after_commit", after_commit)
    app = create_app({
        **TEST_CONFIG, **twilio_settings(env["CRASH_PRISM"]),
        "SQLALCHEMY_DATABASE_URI": env["CRASH_DB_URL"], "CELERY_BROKER_URL": env["CRASH_BROKER"],
        "CELERY_ALWAYS_EAGER": False, "OUTBOX_DISPATCH": "celery", "OUTBOX_LEASE_SECONDS": 300,
        "OUTBOX_BATCH_SIZE": 10, "SMS_SEND_RATE": 0, "OUTBOX_FOLDER": env["CRASH_FOLDER"],
        "CELERY_DATA_FOLDER": env["CRASH_FOLDER"],
    })
    adapter = CrashingAdapter(app.config)
    delivery.get_adapter = lambda channel, config=None: adapter
    go = Path(env["CRASH_GO"])  # started early (imports are slow); consume only when told
    while not go.exists():
        time.sleep(0.05)
    app.extensions["celery"].worker_main(
        ["worker", "-P", "solo", "--without-heartbeat", "--without-mingle",
         "--without-gossip", "-l", "WARNING", "-n", f"crash-{os.getpid()}@%h"])


# --- the test ----------------------------------------------------------------------------

def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except Exception as error:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {error}")


class Workers:
    """Starts worker processes (and kills only those, by their own pid)."""

    def __init__(self, tmp_path: Path, db_url: str, prism: str):
        self.tmp, self.processes = tmp_path, []
        self.ledger = tmp_path / "ledger.jsonl"
        self.env = {**os.environ, "CRASH_LEDGER": str(self.ledger),
                    "CRASH_DB_URL": db_url, "CRASH_BROKER": REDIS_URL, "CRASH_PRISM": prism,
                    "CRASH_FOLDER": str(tmp_path / "folder"), "NO_PROXY": "127.0.0.1,localhost",
                    "PYTHONPATH": str(ROOT)}
        self.env.pop("TWILIO_EDGE", None)
        self.env.pop("TWILIO_REGION", None)

    def spawn(self, die_at: str = "") -> subprocess.Popen:
        """Start a worker process that waits for :meth:`go` before taking tasks."""
        number = len(self.processes)
        go = self.tmp / f"go-{number}"
        log = (self.tmp / f"worker-{number}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, __file__, "worker"], cwd=str(ROOT), stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, "CRASH_DIE_AT": die_at, "CRASH_GO": str(go)})
        process.go_file = go
        self.processes.append(process)
        return process

    @staticmethod
    def go(process: subprocess.Popen) -> subprocess.Popen:
        process.go_file.touch()
        return process

    def accepted(self) -> list[dict]:
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines()]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _statuses() -> dict[str, str]:
    db.session.rollback()
    return {r.recipient: r.status for r in db.session.scalars(select(OutboxMessage))}


def _expire_leases() -> None:
    """Time passes: every lease in flight has expired."""
    db.session.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                       .values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def _subscribe(numbers: list[str], topic: str) -> None:
    for number in numbers:
        db.session.add(Subscription(
            channel="sms", address=number, topic_type="incident", topic_key=topic,
            language="zh_Hans", status="confirmed", unsubscribe_token=secrets.token_urlsafe(32)))
    db.session.commit()


def _assert_each_got_one(workers: Workers, recipients: list[str], reconciled_expected: list):
    """Every recipient got exactly one message, each row holds the sid Twilio gave it, and
    exactly ``reconciled_expected`` (accepted messages) were found by reconciliation."""
    _wait(lambda: set(_statuses().values()) == {"sent"})
    assert set(_statuses().values()) == {"sent"}, _statuses()
    time.sleep(1.0)  # a duplicate would have gone out by now
    accepted = workers.accepted()
    assert sorted(a["to"] for a in accepted) == sorted(recipients)  # one each
    rows = {r.recipient: r for r in db.session.scalars(select(OutboxMessage))}
    assert {a["to"]: a["sid"] for a in accepted} == {
        to: row.provider_id for to, row in rows.items()}
    reconciled = db.session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.detail.like("found at the provider%"))).all()
    assert sorted(rows[a["to"]].id for a in reconciled_expected) == sorted(
        r.message_id for r in reconciled)


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_worker_killed_before_the_call_after_twilio_accepted_and_after_recording(
        make_app, prism_server, tmp_path):
    _redis_or_skip()
    app = make_app(CELERY_BROKER_URL=REDIS_URL, CELERY_ALWAYS_EAGER=False,
                   OUTBOX_DISPATCH="celery", OUTBOX_BATCH_SIZE=10)
    workers = Workers(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], prism_server)
    celery = app.extensions["celery"]
    try:
        with app.app_context():
            _subscribe(RECIPIENTS, "IN-KILL")

            first, second, third, healthy = (
                workers.spawn("before_call"), workers.spawn("after_accept"),
                workers.spawn("after_record"), workers.spawn())
            # 1. dies after leasing, before the provider call
            workers.go(first)
            notify_subscribers("test_message", "incident", "IN-KILL",
                               {"title": "停运", "body": "上海转运中心暂停作业"}, "ev:kill")
            db.session.commit()  # dispatch after commit queues the delivery task
            assert first.wait(90) == KILLED
            assert set(_statuses().values()) == {"sending"} and workers.accepted() == []

            # 2. leases expire; recovery finds nothing at Twilio, the rows go back and are
            #    sent; the worker dies after Twilio accepted the first, before recording it
            _expire_leases()
            workers.go(second)
            celery.tasks["portal.recover_stuck_outbox"].apply_async()
            assert second.wait(60) == KILLED
            [accepted] = workers.accepted()
            assert _statuses()[accepted["to"]] == "sending"  # Twilio has it; we do not know

            # 3. recovery reconciles that row against Twilio (marked sent, not resent), the
            #    others are sent; the worker dies right after recording the next one
            _expire_leases()
            workers.go(third)
            celery.tasks["portal.recover_stuck_outbox"].apply_async()
            assert third.wait(60) == KILLED
            statuses = _statuses()
            assert statuses[accepted["to"]] == "sent"
            second_accepted = workers.accepted()[1]
            assert statuses[second_accepted["to"]] == "sent"  # recorded, then killed
            # every commit writes all the outcomes held, so whatever the worker had sent
            # before that commit is recorded too; anything accepted after it (none with
            # this small batch) would still be leased and reconciled below
            accepted_by_third = workers.accepted()
            for later in accepted_by_third[2:]:
                assert statuses[later["to"]] in ("sent", "sending")
            unrecorded = [a for a in accepted_by_third[2:] if statuses[a["to"]] == "sending"]

            # 4. a healthy worker finishes the rest
            _expire_leases()
            workers.go(healthy)
            celery.tasks["portal.recover_stuck_outbox"].apply_async()
            # reconciled, never resent: the one accepted before the second kill, and any
            # accepted but not yet recorded when the third worker died
            _assert_each_got_one(workers, RECIPIENTS, [workers.accepted()[0], *unrecorded])
    finally:
        workers.stop_all()


def test_worker_killed_with_several_outcomes_held_in_memory(make_app, prism_server,
                                                             tmp_path):
    """Outcomes are written in bulk: a worker that dies after Twilio accepted three
    messages, before writing any outcome, leaves three leased rows; recovery finds all
    three at Twilio (marked sent, not resent), and the rows never tried are sent once."""
    _redis_or_skip()
    app = make_app(CELERY_BROKER_URL=REDIS_URL, CELERY_ALWAYS_EAGER=False,
                   OUTBOX_DISPATCH="celery", OUTBOX_BATCH_SIZE=10)
    workers = Workers(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], prism_server)
    celery = app.extensions["celery"]
    recipients = [f"+8529123450{n}" for n in range(6)]
    try:
        with app.app_context():
            _subscribe(recipients, "IN-MANY")
            dying, healthy = workers.spawn("after_accept:3"), workers.spawn()
            workers.go(dying)
            notify_subscribers("test_message", "incident", "IN-MANY",
                               {"title": "停运", "body": "上海转运中心暂停作业"}, "ev:many")
            db.session.commit()
            assert dying.wait(90) == KILLED
            held = workers.accepted()
            assert len(held) == 3
            assert set(_statuses().values()) == {"sending"}  # nothing written, all leased

            _expire_leases()
            workers.go(healthy)
            celery.tasks["portal.recover_stuck_outbox"].apply_async()
            _assert_each_got_one(workers, recipients, held)  # the three held: reconciled
    finally:
        workers.stop_all()


if __name__ == "__main__" and sys.argv[1:] == ["worker"]:
    _worker_main()
