"""Status callbacks (signature-checked) and the staff page of delivery per update."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_hotline_support import PUBLIC, configure, sign

from portal.extensions import db
from portal.hotline.models import SmsStatusEvent
from portal.notifications.models import OutboxMessage
from portal.notifications.services import Recipient, notify

SID = "SM" + "a" * 32


@pytest.fixture(autouse=True)
def _hotline(app):
    configure(app)


def sent_row(app, sid: str = SID, to: str = "+85291234567",
             event: str = "incident:IN-1:published"):
    with app.app_context():
        [row] = notify("test_message", [Recipient("sms", to, "en")], {"title": "T", "body": "B"},
                       event)
        row.status, row.provider, row.provider_id, row.provider_status = (
            "sent", "twilio", sid, "queued")
        db.session.commit()
        return row.id


def callback(client, status: str, sid: str = SID, error: str | None = None, token=None):
    form = {"MessageSid": sid, "MessageStatus": status, "To": "+85291234567",
            "From": "+15005550006", "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01"}
    if error:
        form["ErrorCode"] = error
    url = f"{PUBLIC}/hotline/sms/status"
    signature = sign(url, form) if token is None else sign(url, form, token)
    return client.post("/hotline/sms/status", data=form, base_url=PUBLIC,
                       headers={"X-Twilio-Signature": signature})


def row(app, row_id):
    with app.app_context():
        return db.session.get(OutboxMessage, row_id)


def test_sent_then_delivered(app, client):
    row_id = sent_row(app)
    assert callback(client, "sent").status_code == 204
    assert row(app, row_id).provider_status == "sent" and row(app, row_id).status == "sent"
    assert callback(client, "delivered").status_code == 204
    done = row(app, row_id)
    assert done.status == "delivered" and done.delivered_at is not None
    # a late "sent" never goes back over "delivered"
    callback(client, "sent")
    assert row(app, row_id).provider_status == "delivered"
    with app.app_context():
        events = db.session.scalars(select(SmsStatusEvent).order_by(SmsStatusEvent.id)).all()
        assert [(e.status, e.outbox_id) for e in events] == [
            ("sent", row_id), ("delivered", row_id), ("sent", row_id)]


@pytest.mark.parametrize("status,code", [("undelivered", "30003"), ("failed", "30008")])
def test_undelivered_and_failed_are_recorded_with_the_carrier_code(app, client, status, code):
    row_id = sent_row(app)
    callback(client, status, error=code)
    failed = row(app, row_id)
    assert failed.status == "failed" and failed.error_code == code
    assert failed.last_error == f"carrier reported {status} (error {code})"


def test_bad_signature_changes_nothing(app, client):
    row_id = sent_row(app)
    assert callback(client, "delivered", token="wrong").status_code == 403
    assert row(app, row_id).status == "sent"
    with app.app_context():
        assert db.session.scalar(select(SmsStatusEvent.id)) is None


def test_unknown_message_is_logged_only(app, client):
    assert callback(client, "delivered", sid="SM" + "f" * 32).status_code == 204
    with app.app_context():
        assert db.session.scalar(select(SmsStatusEvent.outbox_id)) is None


def test_staff_see_per_update_counts_and_reasons_and_retry(app, client, login_as):
    ok = sent_row(app, "SM" + "1" * 32, "+85291234561")
    bad = sent_row(app, "SM" + "2" * 32, "+85291234562")
    sent_row(app, "SM" + "3" * 32, "+85291234563")
    callback(client, "delivered", sid="SM" + "1" * 32)
    callback(client, "undelivered", sid="SM" + "2" * 32, error="30003")
    with app.app_context():
        notify("test_message", [Recipient("sms", "+85291234564", "en")],
               {"title": "T", "body": "B"}, "incident:IN-1:published")
        db.session.commit()
    login_as(client, "supervisor")
    listing = client.get("/staff/notifications/deliveries").get_data(as_text=True)
    assert "incident:IN-1:published" in listing
    page = client.get("/staff/notifications/deliveries/incident:IN-1:published")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    cells = {c: html.split(f'data-column="{c}">')[1].split("<")[0]
             for c in ("queued", "sent", "delivered", "failed")}
    assert cells == {"queued": "1", "sent": "1", "delivered": "1", "failed": "1"}
    assert "30003" in html and "carrier reported undelivered" in html
    response = client.post("/staff/notifications/deliveries/incident:IN-1:published/retry")
    assert response.status_code == 302
    assert row(app, bad).status == "pending" and row(app, ok).status == "delivered"


def test_agents_cannot_see_or_retry(app, client, login_as):
    sent_row(app)
    login_as(client, "agent")
    assert client.get("/staff/notifications/deliveries").status_code == 403
    assert client.post(
        "/staff/notifications/deliveries/incident:IN-1:published/retry").status_code == 403


def test_callbacks_before_the_outcome_is_written_are_applied_by_the_sweep(app, client):
    # Outcomes are written in bulk, so Twilio's callbacks can arrive first: they are kept
    # unmatched, then applied in order once the row carries the Twilio id.
    from portal.hotline.tasks import status_sweep_job

    with app.app_context():
        [pending] = notify("test_message", [Recipient("sms", "+85291234567", "en")],
                           {"title": "T", "body": "B"}, "incident:IN-2:published")
        pending.status = "sending"
        db.session.commit()
        row_id = pending.id
    assert callback(client, "sent").status_code == 204
    assert callback(client, "delivered").status_code == 204
    with app.app_context():
        assert status_sweep_job() == {"applied": 0}  # nothing to match yet
        assert row(app, row_id).status == "sending"
        written = db.session.get(OutboxMessage, row_id)
        written.status, written.provider, written.provider_id, written.provider_status = (
            "sent", "twilio", SID, "queued")
        db.session.commit()
        assert status_sweep_job() == {"applied": 2}
        done = db.session.get(OutboxMessage, row_id)
        assert done.status == "delivered" and done.provider_status == "delivered"
        assert [e.outbox_id for e in db.session.scalars(select(SmsStatusEvent))] == [
            row_id, row_id]
        assert status_sweep_job() == {"applied": 0}  # linked events are not applied twice
