"""``flask staff ...`` and ``flask tokens ...``: accounts and API tokens from the shell.

Each command runs one service call, commits, and records an audit entry with the actor
``cli:<operating-system user>``. Errors print a clear message and exit non-zero.
"""

from __future__ import annotations

from contextlib import contextmanager

import click
from flask import g
from flask.cli import AppGroup
from flask_babel import force_locale

from portal.api import auth as api_auth
from portal.extensions import db
from portal.staff import audit, services
from portal.staff.models import Role

staff_cli = AppGroup("staff", help="Manage staff accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens for carrier systems.")


@contextmanager
def _cli_transaction():
    """English messages, audit actor ``cli:<user>``, commit on success, rollback on error."""
    with force_locale("en"):
        g.audit_actor_label = audit.cli_actor()
        try:
            yield
        except (services.StaffError, api_auth.TokenError) as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from None
        except BaseException:
            db.session.rollback()
            raise
        else:
            db.session.commit()


def _user_or_fail(email: str):
    user = services.find_user(email)
    if user is None:
        raise click.ClickException(f"No staff account with the email {email}.")
    return user


def _password_option(**kwargs):
    return click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                        help="The password (asked twice, hidden, when not given).", **kwargs)


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, help="The staff member's role.",
              type=click.Choice([r.value for r in Role], case_sensitive=False))
@click.option("--name", default="", help="Display name.")
@_password_option()
def create_command(email: str, role: str, name: str, password: str) -> None:
    """Create a staff account."""
    with _cli_transaction():
        user = services.create_staff(email, role, password, name)
    click.echo(f"Created {user.email} ({user.role}).")


@staff_cli.command("list")
def list_command() -> None:
    """List staff accounts."""
    for user in services.list_users():
        status = "active" if user.active else "deactivated"
        if user.active and services.is_locked(user):
            status = "locked"
        click.echo(f"{user.id:>5}  {user.email:<40} {user.role:<11} {status:<11} {user.name}")


@staff_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Deactivate an account and end its sessions."""
    with _cli_transaction():
        user = _user_or_fail(email)
        services.deactivate(user)
    click.echo(f"Deactivated {user.email}.")


@staff_cli.command("set-password")
@click.argument("email")
@_password_option()
def set_password_command(email: str, password: str) -> None:
    """Set a new password for an account (its sessions end)."""
    with _cli_transaction():
        user = _user_or_fail(email)
        services.set_password(user, password)
    click.echo(f"Password set for {user.email}.")


@staff_cli.command("unlock")
@click.argument("email")
def unlock_command(email: str) -> None:
    """Lift a sign-in lock-out."""
    with _cli_transaction():
        user = _user_or_fail(email)
        services.unlock(user)
    click.echo(f"Unlocked {user.email}.")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(api_auth.SCOPES)), help="A scope (repeat for several).")
def token_create_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token and print it (once: it cannot be shown again)."""
    with _cli_transaction():
        token, raw = api_auth.create_token(name, list(scopes))
    click.echo(f"Token {token.id} ({token.name}, scopes: {', '.join(token.scopes)}):")
    click.echo(raw)
    click.echo("Store it now; it cannot be shown again.", err=True)


@tokens_cli.command("list")
def token_list_command() -> None:
    """List API tokens (never the tokens themselves)."""
    for token in api_auth.list_tokens():
        status = "active" if token.active else "revoked"
        used = token.last_used_at.isoformat() if token.last_used_at else "never used"
        click.echo(f"{token.id:>5}  {token.prefix}…  {token.name:<30} {status:<8} "
                   f"{','.join(token.scopes)}  {used}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def token_revoke_command(token_id: int) -> None:
    """Revoke an API token."""
    with _cli_transaction():
        token = api_auth.get_token(token_id)
        if token is None:
            raise click.ClickException(f"No API token with the id {token_id}.")
        api_auth.revoke_token(token)
    click.echo(f"Revoked token {token.id} ({token.name}).")
