"""Delivery at scale through Twilio's API contract (Prism serving the test copy of the
description with the 21610, 21211 and 429 answers): fan-out, suppression, no retry on a
bad number, backoff on 429, reconciliation's request, and the per-sender send rate."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import twilio_support
from conftest import service_unavailable
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException
from twilio_support import ACCOUNT_SID, twilio_settings

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import delivery, throttle
from portal.notifications.adapters import twilio as twilio_adapter
from portal.notifications.models import OutboxMessage, Subscription, Suppression
from portal.notifications.services import notify_subscribers

pytestmark = pytest.mark.prism
prism_server = twilio_support.prism_server
CTX = {"title": "停运通知", "body": "上海转运中心暂停作业"}
NUMBERS = ["+8613900000001", "+8613900000002", "+85291234561", "+85291234562",
           "+447911123456"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def request_violations(violations: list[str]) -> list[dict]:
    """Violations of the request (ours). Prism also reports that Twilio's own list example
    has relative ``uri`` fields where the schema says "uri": those are about the answer."""
    found = []
    for header in violations:
        found += [v for v in json.loads(header) if v.get("location", [""])[0] == "request"]
    return found


@pytest.fixture
def wire(monkeypatch):
    """Every request the SDK sends (method, path, form, query) and Prism's violations."""
    sent, violations = [], []
    original = twilio_adapter.RewritingHttpClient.request

    def record(self, method, url, params=None, data=None, **kwargs):
        response = original(self, method, url, params=params, data=data, **kwargs)
        sent.append((method, url.split("api.twilio.com")[-1], dict(data or {}),
                     dict(params or {}), response.status_code))
        violations.extend(self.violations)
        return response

    monkeypatch.setattr(twilio_adapter.RewritingHttpClient, "request", record)
    return sent, violations


def subscribe_all(numbers, topic="IN-PRSM-2222"):
    for number in numbers:
        db.session.add(Subscription(channel="sms", address=number, topic_type="incident",
                                    topic_key=topic, language="zh_Hans", status="confirmed",
                                    unsubscribe_token=secrets.token_urlsafe(32)))
    db.session.commit()


def test_fanned_out_update_reaches_each_subscriber_once_within_the_contract(app_ctx,
                                                                            prism_server,
                                                                            wire):
    sent, violations = wire
    app_ctx.config.update(twilio_settings(prism_server))
    subscribe_all(NUMBERS)
    assert len(notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:1")) == 5
    db.session.commit()
    assert delivery.deliver_due() == {"leased": 5, "sent": 5}
    posts = [s for s in sent if s[0] == "POST"]
    assert violations == [] and all(s[4] == 201 for s in posts)
    assert sorted(s[2]["To"] for s in posts) == sorted(NUMBERS)
    assert all(s[1] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json" for s in posts)
    assert all(s[2]["StatusCallback"] == "http://portal.test/hotline/sms/status" for s in posts)
    bodies = {s[2]["To"]: s[2]["Body"] for s in posts}
    assert bodies["+8613900000001"].startswith("【速递】")
    assert not bodies["+85291234561"].startswith("【速递】")
    assert delivery.deliver_due() == {"leased": 0}  # nothing is sent twice


def test_21610_puts_the_number_on_the_list_and_later_updates_skip_it(app_ctx, prism_server,
                                                                      wire):
    sent, _violations = wire
    app_ctx.config.update(twilio_settings(prism_server, "code=400, example=unsubscribed"))
    subscribe_all(NUMBERS[:2])
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:2")
    db.session.commit()
    assert delivery.deliver_due() == {"leased": 2, "suppressed": 2}
    assert {s.address for s in db.session.scalars(select(Suppression))} == set(NUMBERS[:2])
    app_ctx.config.update(twilio_settings(prism_server))  # Twilio would accept now
    rows = notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:3")
    db.session.commit()
    assert {r.status for r in rows} == {"suppressed"}
    assert delivery.deliver_due() == {"leased": 0}
    assert len([s for s in sent if s[0] == "POST"]) == 2  # never sent to again


def test_suppressed_after_fan_out_but_before_sending_is_not_sent(app_ctx, prism_server, wire):
    sent, _violations = wire
    app_ctx.config.update(twilio_settings(prism_server))
    subscribe_all(NUMBERS[:2])
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:4")
    db.session.add(Suppression(channel="sms", address=NUMBERS[0], reason="sms:TD"))
    db.session.commit()
    assert delivery.deliver_due() == {"leased": 2, "sent": 1, "suppressed": 1}
    assert [s[2]["To"] for s in sent if s[0] == "POST"] == [NUMBERS[1]]


def test_21211_fails_at_once_and_429_backs_off(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server, "code=400, example=invalid_to"))
    subscribe_all(NUMBERS[:1])
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:5")
    db.session.commit()
    assert delivery.deliver_due() == {"leased": 1, "failed": 1}
    row = db.session.scalars(select(OutboxMessage)).one()
    assert (row.error_code, row.attempts) == ("21211", 1)
    app_ctx.config.update(twilio_settings(prism_server, "code=429, example=too_many"))
    app_ctx.config["OUTBOX_RETRY_BASE_SECONDS"] = 10
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:6")
    db.session.commit()
    waits = []
    for attempt in range(1, 4):
        before = utcnow()
        assert delivery.deliver_due() == {"leased": 1, "pending": 1}
        retry = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.event_key == "ev:6")).one()
        db.session.refresh(retry)
        waits.append((retry.next_attempt_at - before).total_seconds())
        assert retry.attempts == attempt and retry.error_code == "20429"
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == retry.id)
                           .values(next_attempt_at=utcnow()))
        db.session.commit()
    # exponential: 10 s, 20 s, 40 s (each with jitter in its upper half)
    assert 5 <= waits[0] <= 10.5 and 10 <= waits[1] <= 20.5 and 20 <= waits[2] <= 40.5


def test_server_errors_are_retried_client_errors_are_not():
    assert twilio_adapter.classify(TwilioRestException(503, "/x", "busy")) == "retry"
    assert twilio_adapter.classify(TwilioRestException(429, "/x", "slow", code=20429)) == "retry"
    assert twilio_adapter.classify(TwilioRestException(400, "/x", "bad", code=21211)) == "failed"
    assert twilio_adapter.classify(TwilioRestException(400, "/x", "stop", code=21610)) \
        == "suppressed"


def _expire_leases():
    db.session.execute(update(OutboxMessage).values(lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_reconciliation_asks_twilio_within_the_contract(app_ctx, prism_server, wire):
    """A row whose worker died leaves an expired lease: the app lists the messages Twilio
    holds for that number. Prism answers with its fixed example (another number, another
    body), so nothing matches and the row is sent again, exactly once."""
    sent, violations = wire
    app_ctx.config.update(twilio_settings(prism_server))
    subscribe_all(NUMBERS[2:3])
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:7")
    db.session.commit()
    assert delivery.lease_due(10)
    _expire_leases()
    assert delivery.recover_stuck() == 1
    [listing] = [s for s in sent if s[0] == "GET"]
    assert listing[1] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert listing[3] == {"To": NUMBERS[2], "From": "+15005550006", "PageSize": 50}
    assert listing[4] == 200 and request_violations(violations) == []
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.status == "pending"
    assert delivery.deliver_due() == {"leased": 1, "sent": 1}


def test_unreachable_provider_keeps_the_row_leased_never_resent(app_ctx, prism_server, wire):
    sent, _violations = wire
    app_ctx.config.update(twilio_settings(prism_server))
    subscribe_all(NUMBERS[3:4])
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:8")
    db.session.commit()
    delivery.lease_due(10)
    _expire_leases()
    app_ctx.config.update(twilio_settings(f"http://127.0.0.1:{twilio_support.free_port()}"))
    delivery.recover_stuck()
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.status == "sending" and row.lease_until > utcnow()
    assert "could not reconcile" in row.last_error
    assert delivery.deliver_due() == {"leased": 0} and not [s for s in sent if s[0] == "POST"]


def test_send_rate_per_sender_spaces_the_calls(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server), SMS_SEND_RATE=5, SMS_SEND_BURST=1,
                          SMS_RATE_REDIS_URL="", REDIS_URL="")
    subscribe_all(NUMBERS)
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:9")
    db.session.commit()
    throttle._local._state.clear()
    started = time.monotonic()
    assert delivery.deliver_due() == {"leased": 5, "sent": 5}
    assert time.monotonic() - started >= 0.75  # 5 messages at 5/s with a bucket of 1


@pytest.mark.redis
def test_the_bucket_in_redis_is_shared_by_every_worker():
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/12"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).delete("portal:sms-rate:+1500")
    except Exception as error:
        service_unavailable(f"Redis unreachable at {url}: {error}")
    config = {"SMS_SEND_RATE": 2, "SMS_SEND_BURST": 1, "SMS_RATE_REDIS_URL": url}
    granted = []

    def worker():
        throttle._clients.pop(url, None)  # each "worker" has its own connection
        granted.append(throttle.take(config, "+1500"))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(granted)[0] == 0 and all(wait > 0 for wait in sorted(granted)[1:])
    assert throttle._local._state.get("+1500") is None  # Redis was used, not the fallback


def test_warm_up_loads_the_sdk_without_a_request(app_ctx, prism_server, wire):
    """A worker warms the adapter up at start (portal.worker): no request goes out."""
    from portal.notifications.adapters.twilio import TwilioSmsAdapter

    sent, _violations = wire
    adapter = TwilioSmsAdapter({**app_ctx.config, **twilio_settings(prism_server)})
    adapter.warm_up()
    assert sent == []
    assert adapter.send(SimpleNamespace(id=1, recipient="+85291234567", body_text="hi")
                        ).outcome == "sent"
    assert len(sent) == 1


def test_a_delivery_task_keeps_one_twilio_client_across_its_batches(app_ctx, prism_server,
                                                                   wire, monkeypatch):
    """One SDK client (one keep-alive connection) per task, not one per batch."""
    from portal.tasks import deliver_outbox_job

    sent, _violations = wire
    built = []
    original = twilio_adapter.build_client
    monkeypatch.setattr(twilio_adapter, "build_client",
                        lambda config: built.append(1) or original(config))
    app_ctx.config.update(twilio_settings(prism_server), OUTBOX_BATCH_SIZE=2)
    subscribe_all(NUMBERS)
    notify_subscribers("test_message", "incident", "IN-PRSM-2222", CTX, "ev:one-client")
    db.session.commit()
    totals = deliver_outbox_job()
    assert totals["leased"] == 5 and totals["sent"] == 5
    assert len([s for s in sent if s[0] == "POST"]) == 5
    assert len(built) == 1
