"""``flask outbox deliver | status | retry-failed``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

outbox_cli = AppGroup("outbox", help="Inspect and deliver the notification outbox.")


@outbox_cli.command("deliver")
@click.option("--batch-size", type=int, default=None, help="Rows per batch.")
@click.option("--all", "until_empty", is_flag=True, help="Repeat until nothing is due.")
def deliver_command(batch_size: int | None, until_empty: bool) -> None:
    """Deliver due outbox rows once (or until none is due) and print the counts."""
    from portal.notifications.delivery import deliver_due

    totals: dict[str, int] = {}
    while True:
        counts = deliver_due(batch_size)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if not until_empty or counts.get("leased", 0) == 0:
            break
    click.echo(" ".join(f"{key}={totals[key]}" for key in sorted(totals)) or "leased=0")


@outbox_cli.command("status")
def status_command() -> None:
    """Print row counts per status and channel, and the age of the oldest pending row."""
    from portal.notifications.queries import outbox_status

    status = outbox_status()
    for (state, channel), count in sorted(status["counts"].items()):
        click.echo(f"{state:<11} {channel:<6} {count}")
    age = status["oldest_pending_seconds"]
    click.echo("oldest pending: " + (f"{int(age)}s" if age is not None else "none"))


@outbox_cli.command("retry-failed")
def retry_failed_command() -> None:
    """Put every failed row back to pending."""
    from portal.extensions import db
    from portal.notifications.delivery import retry_failed

    count = retry_failed()
    db.session.commit()
    click.echo(f"requeued={count}")
