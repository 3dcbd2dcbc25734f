"""Celery app bound to the Flask app (placeholder until the background module is written)."""

from flask import Flask


def init_celery(app: Flask) -> None:
    """Create the Celery app for this Flask app."""
