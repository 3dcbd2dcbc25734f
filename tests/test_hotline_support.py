"""Helpers for the hotline tests (no tests in here): signed webhook posts, parcels and
cases to ask about."""

from __future__ import annotations

import itertools
import re

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from portal.extensions import db

TOKEN = "hotline-test-auth-token"
PUBLIC = "http://portal.test"
HK = "+85291234567"
TW = "+886912345678"
UK = "+447911123456"
_sids = itertools.count(1)


def configure(app) -> None:
    """Settings every hotline test uses (the token the signatures are made with)."""
    app.config.update(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC)


def sign(url: str, form: dict, token: str = TOKEN) -> str:
    """``X-Twilio-Signature`` as Twilio computes it."""
    return RequestValidator(token).compute_signature(url, form)


def text(client, body: str, sender: str = HK, sid: str | None = None, token: str = TOKEN):
    """Post one inbound SMS as Twilio would (signed on the public URL)."""
    form = {"MessageSid": sid or f"SM{next(_sids):032d}", "AccountSid": "AC" + "0" * 32,
            "From": sender, "To": "+15005550006", "Body": body, "NumMedia": "0"}
    url = f"{PUBLIC}/hotline/sms"
    return client.post("/hotline/sms", data=form, base_url=PUBLIC,
                       headers={"X-Twilio-Signature": sign(url, form, token)})


def reply_of(response) -> str | None:
    """The reply body of a TwiML answer (None for an empty ``<Response/>``)."""
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/xml"
    found = re.search(r"<Message>(.*)</Message>", response.get_data(as_text=True), re.S)
    if not found:
        return None
    from html import unescape

    return unescape(found.group(1))


def affected_parcel(app, number: str, situation: str = "delayed", expected: str = "2026-12-03"):
    """Publish an incident and list ``number`` on it; return the incident reference."""
    from test_parcels_support import make_incident

    from portal.parcels import services as parcels
    from portal.parcels.services import find_incident

    reference = make_incident(app)
    with app.app_context():
        incident = find_incident(reference)
        parcels.import_items(incident, [{"tracking_number": number, "situation": situation,
                                         "expected_delivery": expected}])
        db.session.commit()
    return reference


def make_case(app, phone: str, state: str = "open") -> str:
    """A complaint case filed with ``phone``; return its reference."""
    from portal.cases import services as cases

    with app.app_context():
        case = cases.create_case(cases.Submission(
            kind="complaint", type="other", customer_name="Li", phone_e164=phone,
            description="late", submission_token=f"t-{next(_sids)}", language="zh_Hans"))
        case.state = state
        db.session.commit()
        return case.reference


def inbound_log(app):
    """Every logged inbound message."""
    from portal.hotline.models import SmsInbound

    with app.app_context():
        return db.session.scalars(select(SmsInbound).order_by(SmsInbound.id)).all()
