"""Affected parcels: records per incident, bulk import, public look-up, API.

``init_app`` (called from ``create_app``'s ``register_blueprints``) registers the public
and staff blueprints, attaches the API routes to ``/api/v1`` and the staff dashboard panel.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the parcels feature into ``app``."""
