"""Dispatch of committed outbox rows to the background worker (placeholder)."""

from flask import Flask


def init_dispatch(app: Flask) -> None:
    """Hook outbox dispatch onto commits."""
