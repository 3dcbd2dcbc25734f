"""Affected parcels: records per incident, bulk import, public look-up, API.

``init_app`` (called from ``create_app``'s ``register_blueprints``, before the ``/api/v1``
blueprint is registered) registers the public and staff blueprints, attaches the API
routes, the CLI group, the template globals and the staff dashboard panel.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the parcels feature into ``app``."""
    from portal.parcels import api  # noqa: F401 - attaches /api/v1/parcels*
    from portal.parcels.labels import template_globals
    from portal.parcels.routes_public import bp as public_bp
    from portal.parcels.routes_staff import bp as staff_bp
    from portal.staff.routes import add_dashboard_panel

    app.register_blueprint(public_bp)
    app.register_blueprint(staff_bp)
    app.jinja_env.globals.update(template_globals())
    add_dashboard_panel("parcels/staff/_panel.html", "parcels.view", order=30)
