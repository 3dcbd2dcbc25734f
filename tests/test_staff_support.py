"""Helpers shared by the staff, audit and token tests (no tests in here).

Import them with ``from test_staff_support import ...`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import re

from portal.extensions import db

PASSWORD = "correct horse battery staple"
ROLES = ["admin", "commander", "responder", "supervisor", "agent"]


def make_staff(app, role: str = "admin", email: str | None = None,
               password: str = PASSWORD, name: str = "") -> int:
    """Create and commit a staff account through the service; return its id."""
    from portal.staff import services

    with app.app_context():
        user = services.create_staff(email or f"{role}@example.com", role, password, name)
        db.session.commit()
        return user.id


def login(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    """POST the sign-in form (CSRF is off in the test config)."""
    url = "/staff/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})


def signed_in(client) -> bool:
    """True when the client's session opens the dashboard."""
    return client.get("/staff/").status_code == 200


def csrf_token_from(html: str) -> str:
    """Extract the CSRF token from a rendered form."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def audit_rows(app, action: str | None = None) -> list:
    """Return audit entries (oldest first), optionally of one action."""
    from sqlalchemy import select

    from portal.staff.models import AuditEntry

    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows
