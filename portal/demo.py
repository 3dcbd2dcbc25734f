"""``flask demo ...`` (placeholder)."""

from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="Demo data for the embedded mode.")
