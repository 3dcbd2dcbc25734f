"""Complaints and compensation claims: the form, the compensation policy, cases with a
lifecycle, and the customer's status page.

``init_app`` (called from ``create_app``'s ``register_blueprints``) registers the public
and staff blueprints, the CLI group and the staff dashboard panel.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the cases feature into ``app``."""
