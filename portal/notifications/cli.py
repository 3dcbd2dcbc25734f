"""``flask outbox ...`` (placeholder)."""

from flask.cli import AppGroup

outbox_cli = AppGroup("outbox", help="Inspect and deliver the notification outbox.")
