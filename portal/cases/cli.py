"""``flask cases ...``: the periodic sweep, the default policy, and policy inspection."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.extensions import db

cases_cli = AppGroup("cases", help="Complaints and compensation claims.")


@cases_cli.command("sweep")
def sweep_command() -> None:
    """Re-encode pending evidence and close resolved cases past the reopen window."""
    from portal.cases.tasks import sweep_job

    result = sweep_job()
    click.echo(f"evidence processed: {result['processed']}, cases closed: {result['closed']}")


@cases_cli.command("seed-policy")
def seed_policy_command() -> None:
    """Create the built-in default policy version when no version is in force."""
    from portal.cases.policy_admin import ensure_default_version

    version = ensure_default_version()
    db.session.commit()
    click.echo(f"policy in force: #{version.id} {version.name} ({len(version.rules)} rules)")


@cases_cli.command("policy")
def policy_command() -> None:
    """Print the rules of the version in force."""
    from portal.cases.policy_admin import rules_of, version_in_force

    version = version_in_force()
    click.echo(f"version: {version.name if version else 'built-in defaults (none in database)'}")
    for rule in rules_of(version):
        click.echo(f"  {rule.claim_type:<15} insured={'yes' if rule.insured else 'no ':<3} "
                   f"service={rule.service_line:<9} {rule.formula:<20} "
                   f"xfreight={rule.freight_multiple} cap_fen={rule.cap_fen}")
