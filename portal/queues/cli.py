"""``flask queues ...``: the periodic check, calendar pre-fill, default keywords."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db

queues_cli = AppGroup("queues", help="Customer-service queues, routing and SLA.")


@queues_cli.command("check")
def check_command() -> None:
    """Route unrouted cases, assign waiting ones, escalate at-risk and breached SLAs."""
    from portal.queues.tasks import check_job

    click.echo(check_job())


@queues_cli.command("prefill-calendars")
@click.argument("years", nargs=-1, type=int)
def prefill_command(years: tuple[int, ...]) -> None:
    """Fill holidays and make-up days from chinese_calendar (default: this and next year)."""
    from portal.db import utcnow
    from portal.queues.calendars import missing_years, prefill
    from portal.queues.models import BusinessCalendar

    years = years or (utcnow().year, utcnow().year + 1)
    for calendar in db.session.scalars(select(BusinessCalendar)):
        click.echo(f"{calendar.name}: {prefill(calendar, list(years))}")
    db.session.commit()
    for name, year in missing_years():
        click.echo(f"WARNING: {name} has no holiday data for {year}")


@queues_cli.command("seed-keywords")
def keywords_command() -> None:
    """Store the built-in escalation keywords so supervisors can edit them."""
    from portal.queues.signals import ensure_defaults

    click.echo(f"{ensure_defaults()} keywords added")
    db.session.commit()
