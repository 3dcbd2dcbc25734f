"""Incident bulletins: declare, update and resolve incidents; the public site, feeds, API.

``init_app`` (called from ``create_app``'s ``register_blueprints``) registers the staff
blueprint, the page cache, cookie-free public pages and the template helpers. The public
routes live on the ``public`` blueprint (``routes_public``) and the JSON API on the shared
``/api/v1`` blueprint (``api``); both are attached when this package is imported.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the incidents feature into ``app``."""
    from portal.incidents import api  # noqa: F401 - attaches /api/v1/incidents*
    from portal.incidents.cache import init_cache
    from portal.incidents.http import install_cookie_free_sessions
    from portal.incidents.labels import template_globals
    from portal.incidents.markdown import render_markdown
    from portal.incidents.routes_staff import bp
    from portal.incidents.tasks import incidents_cli
    from portal.staff.routes import add_dashboard_panel

    app.register_blueprint(bp)
    app.cli.add_command(incidents_cli)
    init_cache(app)
    install_cookie_free_sessions(app)
    app.jinja_env.globals.update(template_globals())
    app.jinja_env.filters["markdown"] = render_markdown
    add_dashboard_panel("incidents/staff/_panel.html", "incidents.view_internal", order=10)
    if app.config.get("PORTAL_BENCH_ROUTES"):
        from portal.incidents.bench_routes import init_bench_routes

        init_bench_routes(app)
