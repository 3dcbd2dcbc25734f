"""Claim emails through a real SMTP server (aiosmtpd), delivered by the notifications
core's own delivery path."""

from __future__ import annotations

import email
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.notifications.delivery import deliver_due
from tests.test_cases_support import file_claim, tracking


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """Keeps every envelope received."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp):
    return make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port,
                    MAIL_DEFAULT_SENDER="Claims <claims@portal.example>")


def _parts(envelope):
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    return (message, message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


@pytest.mark.parametrize("language,greeting", [("en", "Dear Li Lei"), ("zh_Hans", "Li Lei")])
def test_confirmation_email_arrives_with_both_parts_and_a_working_link(mail_app, smtp, language,
                                                                        greeting):
    client = mail_app.test_client()
    ref = file_claim(client, language=language, tracking_number=tracking())
    with mail_app.app_context():
        counts = deliver_due()
        db.session.commit()
    assert counts.get("sent") == 2  # the email, and the SMS to the folder adapter
    assert len(smtp.envelopes) == 1
    envelope = smtp.envelopes[0]
    assert envelope.rcpt_tos == ["li@example.com"]
    message, text, html = _parts(envelope)
    assert ref in message["Subject"]
    assert greeting in text and ref in text and ref in html
    link = re.search(r"http://portal\.test(/claims/\S+)", text).group(1)
    assert f"lang={language}" in link
    reader = mail_app.test_client()
    opened = reader.get(link)
    assert opened.status_code == 303
    assert "five days late" in reader.get(opened.headers["Location"]).get_data(as_text=True)


def test_offer_email_reaches_the_customer(mail_app, smtp, staff_factory):
    from sqlalchemy import select

    from portal.cases import lifecycle
    from portal.cases.models import Case
    from portal.staff.models import StaffUser

    ref = file_claim(mail_app.test_client(), tracking_number=tracking())
    staff_id = staff_factory("agent", "a@example.com")
    with mail_app.app_context():
        staff = db.session.get(StaffUser, staff_id)
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        lifecycle.offer(case, 2350, staff, "freight")
        db.session.commit()
        deliver_due()
        db.session.commit()
    subjects = [_parts(e)[0]["Subject"] for e in smtp.envelopes]
    assert any("offer" in s and ref in s for s in subjects)
    offer_text = next(_parts(e)[1] for e in smtp.envelopes if "offer" in _parts(e)[0]["Subject"])
    assert "¥23.50" in offer_text
