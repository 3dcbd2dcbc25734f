"""``flask staff ...`` and ``flask tokens ...`` (placeholder)."""

from flask.cli import AppGroup

staff_cli = AppGroup("staff", help="Manage staff accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens for carrier systems.")
