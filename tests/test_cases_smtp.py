"""Claim emails through a real SMTP server (aiosmtpd), delivered by the notifications
core's own delivery path."""

from __future__ import annotations

import re

import pytest
from smtp_support import mail_parts

from portal.extensions import db
from portal.notifications.delivery import deliver_due
from tests.test_cases_support import file_claim, tracking


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1",
                    MAIL_PORT=smtp_server.port,
                    MAIL_DEFAULT_SENDER="Claims <claims@portal.example>")


@pytest.mark.parametrize("language,greeting", [("en", "Dear Li Lei"), ("zh_Hans", "Li Lei")])
def test_confirmation_email_arrives_with_both_parts_and_a_working_link(mail_app, smtp_server,
                                                                        language, greeting):
    client = mail_app.test_client()
    ref = file_claim(client, language=language, tracking_number=tracking())
    with mail_app.app_context():
        counts = deliver_due()
        db.session.commit()
    assert counts.get("sent") == 2  # the email, and the SMS to the folder adapter
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert envelope.rcpt_tos == ["li@example.com"]
    message, text, html = mail_parts(envelope)
    assert ref in message["Subject"]
    assert greeting in text and ref in text and ref in html
    link = re.search(r"http://portal\.test(/claims/\S+)", text).group(1)
    assert f"lang={language}" in link
    reader = mail_app.test_client()
    opened = reader.get(link)
    assert opened.status_code == 303
    assert "five days late" in reader.get(opened.headers["Location"]).get_data(as_text=True)


def test_offer_email_reaches_the_customer(mail_app, smtp_server, staff_factory):
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
    subjects = [mail_parts(e)[0]["Subject"] for e in smtp_server.envelopes]
    assert any("offer" in s and ref in s for s in subjects)
    offer_text = next(mail_parts(e)[1] for e in smtp_server.envelopes
                      if "offer" in mail_parts(e)[0]["Subject"])
    assert "¥23.50" in offer_text
