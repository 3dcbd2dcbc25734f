"""Periodic work of the incidents feature: the stale-update check.

``portal.tasks`` calls ``register_tasks(celery_app)`` for every app: it adds the task and
its beat entry (every ``INCIDENT_STALE_CHECK_SECONDS``, default 60). The same job runs
by hand with ``flask incidents check-stale``.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db

CHECK_STALE = "portal.incidents.check_stale"

incidents_cli = AppGroup("incidents", help="Incident bulletins.")


def check_stale_job() -> list[str]:
    """Alert commanders of stale incidents and commit; return the references alerted."""
    from portal.incidents.stale import alert_stale
    from portal.tasks import record_job

    record_job(CHECK_STALE, started=True)
    try:
        alerted = alert_stale()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        record_job(CHECK_STALE, error=repr(error))
        raise
    record_job(CHECK_STALE, succeeded=True)
    return alerted


def register_tasks(celery_app) -> None:
    """Add the stale-update check to ``celery_app`` and to its beat schedule."""
    from portal.tasks import register_task

    seconds = float(celery_app.flask_app.config.get("INCIDENT_STALE_CHECK_SECONDS", 60))
    register_task(celery_app, CHECK_STALE, check_stale_job, every_seconds=seconds)


@incidents_cli.command("check-stale")
def check_stale_command() -> None:
    """Notify commanders of active incidents without a recent public update."""
    alerted = check_stale_job()
    click.echo(f"stale incidents alerted: {len(alerted)} {' '.join(alerted)}".rstrip())


@incidents_cli.command("seed-templates")
def seed_templates_command() -> None:
    """Restore the standard update wording for states that have no template."""
    from portal.incidents.services import seed_default_templates

    added = seed_default_templates()
    db.session.commit()
    click.echo(f"templates added: {added}")


@incidents_cli.command("invalidate-cache")
def invalidate_cache_command() -> None:
    """Drop every cached public page (a new cache generation)."""
    from portal.incidents.cache import invalidate_now

    click.echo(f"page cache generation: {invalidate_now(current_app)}")
