"""SMS through the official Twilio SDK against Prism serving Twilio's API description."""

from __future__ import annotations

from datetime import timedelta

import pytest
import twilio_support
from sqlalchemy import select, update
from twilio_support import ACCOUNT_SID, twilio_settings

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.adapters.twilio import (
    ForbiddenHost,
    RewritingHttpClient,
    TwilioSmsAdapter,
)
from portal.notifications.delivery import deliver_due
from portal.notifications.models import OutboxMessage, Suppression
from portal.notifications.services import Recipient, notify

pytestmark = pytest.mark.prism
prism_server = twilio_support.prism_server  # the session fixture, used by name below


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def queue_sms(to: str, event: str) -> OutboxMessage:
    [row] = notify("test_message", [Recipient("sms", to, "zh_Hans")],
                   {"title": "停运通知", "body": "上海转运中心暂停作业"}, event)
    db.session.commit()
    return row


def test_adapter_sends_what_the_contract_expects(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server))
    row = queue_sms("+8613800138000", "ev:prism:1")
    adapter = TwilioSmsAdapter(app_ctx.config)
    result = adapter.send(row)
    http = adapter.client.http_client
    assert result.outcome == "sent" and result.provider_id.startswith("SM")
    assert http.violations == []
    assert http._test_only_last_response.status_code == 201
    sent = http._test_only_last_request
    assert sent.url == f"{prism_server}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert sent.method == "POST"
    assert sent.data["To"] == "+8613800138000"
    assert sent.data["From"] == "+15005550006"
    assert sent.data["Body"] == row.body_text and sent.data["Body"].startswith("【速递】")
    assert sent.data["StatusCallback"] == "http://portal.test/hotline/sms/status"


def test_messaging_service_instead_of_from(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server))
    app_ctx.config["TWILIO_MESSAGING_SERVICE_SID"] = "MG" + "a" * 32
    adapter = TwilioSmsAdapter(app_ctx.config)
    assert adapter.send(queue_sms("+447700900123", "ev:prism:2")).outcome == "sent"
    sent = adapter.client.http_client._test_only_last_request
    assert sent.data["MessagingServiceSid"] == "MG" + "a" * 32 and "From" not in sent.data
    assert adapter.client.http_client.violations == []


def test_prism_reports_a_broken_request(prism_server):
    """The violation check is real: a request without ``To`` is refused by the contract."""
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, "t", http_client=RewritingHttpClient(prism_server))
    response = client.http_client.request(
        "POST", f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"Body": "hi"}, auth=(ACCOUNT_SID, "t"))
    # Prism answers an invalid request with the spec's 4xx and says why in sl-violations
    assert response.status_code in (400, 422)
    assert client.http_client.violations and "To" in client.http_client.violations[0]
    with pytest.raises(ForbiddenHost):
        client.http_client.request("GET", "https://evil.example/x")


def test_deliver_due_through_twilio(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server))
    row = queue_sms("+8613800138000", "ev:prism:3")
    assert deliver_due() == {"leased": 1, "sent": 1}
    db.session.refresh(row)
    assert row.provider == "twilio" and row.provider_id.startswith("SM")
    assert row.provider_status == "queued"


def test_21610_suppresses_and_never_sends_again(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server, "code=400, example=unsubscribed"))
    first = queue_sms("+8613800138000", "ev:prism:4")
    assert deliver_due() == {"leased": 1, "suppressed": 1}
    db.session.refresh(first)
    assert first.error_code == "21610" and first.status == "suppressed"
    assert db.session.get(Suppression, ("sms", "+8613800138000")).reason == "provider:21610"
    # Prism would now accept it, but the app never tries again
    app_ctx.config.update(twilio_settings(prism_server))
    second = queue_sms("+8613800138000", "ev:prism:5")
    assert second.status == "suppressed"
    assert deliver_due() == {"leased": 0}
    assert len(db.session.get(OutboxMessage, first.id).attempt_log) == 1


def test_21211_fails_without_retry(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server, "code=400, example=invalid_to"))
    row = queue_sms("+8613800138000", "ev:prism:6")
    assert deliver_due() == {"leased": 1, "failed": 1}
    db.session.refresh(row)
    assert row.error_code == "21211" and row.attempts == 1
    db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert deliver_due() == {"leased": 0}


def test_429_is_retried_later_with_backoff(app_ctx, prism_server):
    app_ctx.config.update(twilio_settings(prism_server, "code=429, example=too_many"))
    app_ctx.config["OUTBOX_RETRY_BASE_SECONDS"] = 30
    row = queue_sms("+8613800138000", "ev:prism:7")
    before = utcnow()
    assert deliver_due() == {"leased": 1, "pending": 1}
    db.session.refresh(row)
    assert row.error_code == "20429" and row.status == "pending"
    assert row.next_attempt_at >= before + timedelta(seconds=15)
    app_ctx.config.update(twilio_settings(prism_server))
    db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert deliver_due() == {"leased": 1, "sent": 1}
    outcomes = [a.outcome for a in db.session.get(OutboxMessage, row.id).attempt_log]
    assert outcomes == ["retry", "sent"]


def test_connection_error_is_a_retry(app_ctx):
    from twilio_support import free_port

    app_ctx.config.update(twilio_settings(f"http://127.0.0.1:{free_port()}"))
    queue_sms("+8613800138000", "ev:prism:8")
    assert deliver_due() == {"leased": 1, "pending": 1}
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.error_code == "network"
