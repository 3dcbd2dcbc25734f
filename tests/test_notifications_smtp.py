"""Email through a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

import pytest
from smtp_support import free_port, mail_parts
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.delivery import deliver_due
from portal.notifications.models import OutboxMessage
from portal.notifications.services import Recipient, notify, notify_subscribers, subscribe


@pytest.fixture
def smtp_app(make_app, smtp_server):
    return make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                    MAIL_DEFAULT_SENDER="Portal <noreply@portal.example>")


def test_subscriber_mail_arrives_with_both_parts_language_and_unsubscribe(smtp_app,
                                                                           smtp_server):
    with smtp_app.app_context():
        sub = subscribe("email", "reader@example.com", "incident", "INC-7", "en").subscription
        sub.status = "confirmed"
        notify_subscribers("test_message", "incident", "INC-7",
                           {"title": "Depot flooded", "body": "Expect two days of delay."},
                           "incident:INC-7:update:1")
        db.session.commit()
        token = sub.unsubscribe_token
        # the confirmation mail was written before the confirm: two messages in all
        assert deliver_due() == {"leased": 2, "sent": 2}
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert all(r.status == "sent" and r.provider == "smtp" for r in rows)
    assert len(smtp_server.envelopes) == 2
    envelope = smtp_server.envelopes[1]
    assert envelope.rcpt_tos == ["reader@example.com"]
    assert envelope.mail_from == "noreply@portal.example"
    message, text, html = mail_parts(envelope)
    assert message["Subject"] == "Test message: Depot flooded"
    assert message["Content-Language"] == "en"
    assert '<html lang="en">' in html
    assert "Expect two days of delay." in text and "Expect two days of delay." in html
    link = f"http://portal.test/unsubscribe/{token}?lang=en"
    assert link in text and f'href="{link}"' in html
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["Message-ID"] == rows[1].provider_id


def test_language_of_each_mail(smtp_app, smtp_server):
    with smtp_app.app_context():
        notify("test_message", [Recipient("email", "hant@example.com", "zh_Hant"),
                                Recipient("email", "hans@example.com", "zh_Hans")],
               {"title": "T", "body": "B"}, "ev:lang")
        db.session.commit()
        deliver_due()
    by_to = {e.rcpt_tos[0]: mail_parts(e) for e in smtp_server.envelopes}
    assert by_to["hant@example.com"][0]["Content-Language"] == "zh-Hant"
    assert '<html lang="zh-Hant">' in by_to["hant@example.com"][2]
    assert by_to["hans@example.com"][0]["Content-Language"] == "zh-Hans"
    assert '<html lang="zh-Hans">' in by_to["hans@example.com"][2]


def test_smtp_refusals_map_to_failed_and_retry(smtp_app, smtp_server):
    smtp_server.refuse = {"gone@example.com": "550 5.1.1 No such user",
                          "busy@example.com": "451 4.3.0 Try again later"}
    with smtp_app.app_context():
        notify("test_message", [Recipient("email", "gone@example.com", "en"),
                                Recipient("email", "busy@example.com", "en")],
               {"title": "T", "body": "B"}, "ev:refuse")
        db.session.commit()
        assert deliver_due() == {"leased": 2, "failed": 1, "pending": 1}
        rows = {r.recipient: r for r in db.session.scalars(select(OutboxMessage))}
        assert rows["gone@example.com"].error_code == "550"
        assert rows["busy@example.com"].error_code == "451"
    assert smtp_server.envelopes == []


def test_unreachable_server_is_a_retry(make_app):
    app = make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    with app.app_context():
        notify("test_message", [Recipient("email", "a@example.com", "en")],
               {"title": "T", "body": "B"}, "ev:down")
        db.session.commit()
        assert deliver_due() == {"leased": 1, "pending": 1}
        row = db.session.scalars(select(OutboxMessage)).one()
        assert row.error_code == "network" and row.attempts == 1
