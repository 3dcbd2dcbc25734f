"""``flask demo seed``: demo data for the embedded mode, with the staff logins printed.

Refuses to run in production. Re-running it is harmless: existing rows are kept.
Features add their own demo data through ``DEMO_SEEDERS``.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db

demo_cli = AppGroup("demo", help="Demo data for the embedded mode.")

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed on purpose, dev only
DEMO_STAFF = [
    ("admin@demo.example", "Demo Administrator", "admin"),
    ("commander@demo.example", "Demo Commander", "commander"),
    ("responder@demo.example", "Demo Responder", "responder"),
    ("supervisor@demo.example", "Demo Supervisor", "supervisor"),
    ("agent@demo.example", "Demo Agent", "agent"),
]

#: Functions that add a feature's demo data; each returns a one-line summary.
DEMO_SEEDERS: list[Callable[[], str]] = []


def seed_staff() -> list[str]:
    """Create one demo account per role; return the emails created or found."""
    from portal.staff.models import StaffUser
    from portal.staff.services import create_staff

    emails = []
    for email, name, role in DEMO_STAFF:
        if db.session.query(StaffUser).filter_by(email=email).first() is None:
            create_staff(email=email, name=name, role=role, password=DEMO_PASSWORD)
        emails.append(email)
    return emails


@demo_cli.command("seed")
def seed_command() -> None:
    """Add demo staff (one per role) and the features' demo data; print the logins."""
    if current_app.config["PORTAL_ENV"] == "production":
        raise click.ClickException("demo data is never loaded in production")
    emails = seed_staff()
    summaries = [seeder() for seeder in DEMO_SEEDERS]
    db.session.commit()
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo("")
    click.echo(f"Demo staff logins (password for all: {DEMO_PASSWORD})")
    for (email, _name, role), _ in zip(DEMO_STAFF, emails, strict=True):
        click.echo(f"  {role:<11} {email}")
    click.echo(f"Staff sign-in: {base}/staff/login")
    for summary in summaries:
        click.echo(summary)


def seed_incidents() -> str:
    """Demo incidents in three languages (see ``portal.incidents.demo``)."""
    from portal.incidents.demo import seed_demo_incidents

    return seed_demo_incidents()


DEMO_SEEDERS.append(seed_incidents)


def seed_cases() -> str:
    """The compensation policy and two demo cases (see ``portal.cases.demo``)."""
    from portal.cases.demo import seed_demo_cases

    return seed_demo_cases()


DEMO_SEEDERS.append(seed_cases)


def seed_queues() -> str:
    """Demo queues, rules, calendar and routed cases (see ``portal.queues.demo``)."""
    from portal.queues.demo import seed_demo_queues

    return seed_demo_queues()


DEMO_SEEDERS.append(seed_queues)
