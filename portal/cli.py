"""Command-line interface: each feature registers its own command group here."""

from flask import Flask


def init_cli(app: Flask) -> None:
    """Register the portal's command groups."""
    from portal.demo import demo_cli
    from portal.i18n_cli import i18n_cli
    from portal.notifications.cli import outbox_cli
    from portal.parcels.cli import parcels_cli
    from portal.staff.cli import staff_cli, tokens_cli

    for group in (staff_cli, tokens_cli, outbox_cli, demo_cli, i18n_cli, parcels_cli):
        app.cli.add_command(group)
