"""Command-line interface: registered on the app in ``create_app``."""

from flask import Flask


def init_cli(app: Flask) -> None:
    """Register the portal's command groups."""
