"""Helpers shared by the claims tests (no tests here): form data, filing through the real
form, reading the outbox."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db

DATA = Path(__file__).parent / "data" / "cases"
PHONE = "13800138000"
OTHER_PHONE = "13912345678"
_counter = itertools.count(1)


def tracking() -> str:
    """A distinct, valid tracking number."""
    return f"SF{7000000000000 + next(_counter):013d}"


def form_data(**overrides) -> dict:
    """A valid delay claim; override any field."""
    data = {
        "type": "delay", "tracking_number": "SF1234567890123", "customer_name": "Li Lei",
        "phone_region": "CN", "phone": PHONE, "email": "li@example.com",
        "description": "My parcel is five days late and nobody told me why.",
        "freight": "23.50", "preferred_channel": "sms", "language": "en", "consent": "y",
        "submission_token": f"token-{next(_counter)}", "action": "submit",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(name: str, data: bytes | None = None):
    """A (stream, filename) pair for the test client."""
    return (io.BytesIO(data if data is not None else (DATA / name).read_bytes()), name)


def post_claim(client, **overrides):
    """POST the claim form (multipart)."""
    files = overrides.pop("files", None)
    data = form_data(**overrides)
    if files:
        data["evidence"] = files
    return client.post("/claims/new?lang=en", data=data, content_type="multipart/form-data")


def reference_from(response) -> str:
    """The reference in a redirect to the confirmation page."""
    match = re.search(r"/claims/(CS-[A-Z0-9]{4}-[A-Z0-9]{4})/received",
                      response.headers["Location"])
    assert match, response.headers.get("Location")
    return match.group(1)


def file_claim(client, **overrides) -> str:
    """File a claim through the form and return its reference."""
    response = post_claim(client, **overrides)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return reference_from(response)


def outbox(app, template: str | None = None):
    """Outbox rows (optionally of one template)."""
    from portal.notifications.models import OutboxMessage

    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def get_case(app, reference: str):
    """The case, detached, with its collections loaded."""
    from portal.cases.models import Case

    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        if case is not None:
            for rel in (case.messages, case.evidence, case.decisions, case.events):
                list(rel)
            _ = case.rating
        db.session.expunge_all()
        return case


def count_cases(app) -> int:
    from sqlalchemy import func

    from portal.cases.models import Case

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Case))
