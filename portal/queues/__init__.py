"""Customer-service queues: routing rules, fair assignment, SLA clocks, escalation and the
agent's workspace (``/staff/queues``, ``/staff/cases/<reference>``, ``/staff/search``,
``/staff/reports/sla``)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprint (routes split over several modules), the CLI group, the
    listeners that keep case work in step with cases, and the dashboard panel."""
    from portal.queues import hooks, routes_admin, routes_case, routes_reports  # noqa: F401
    from portal.queues.cli import queues_cli
    from portal.queues.routes_work import bp
    from portal.staff.routes import add_dashboard_panel

    hooks.install()
    app.register_blueprint(bp)
    app.cli.add_command(queues_cli)
    add_dashboard_panel("queues/_panel.html", "queues.view", order=30)
    app.jinja_env.globals["queue_calendar_gaps"] = _calendar_gaps


def _calendar_gaps() -> list[tuple[str, int]]:
    """(calendar, year) without holiday data, for the dashboard panel."""
    from portal.queues.calendars import missing_years

    return missing_years()
