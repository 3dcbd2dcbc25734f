"""Supervisor dashboard and reports: ``/staff/reports/sla`` (``?format=csv``) and the cases
CSV export."""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context

from portal.db import utcnow
from portal.queues import calendars, reports, routing
from portal.queues.routes_work import bp
from portal.staff.permissions import require_permission


def _days() -> int:
    raw = request.args.get("days", "30")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 366 else 30


@bp.get("/reports/sla")
@require_permission("queues.reports")
def sla_report():
    """Backlog, at risk, breached, agent load, times, compliance, satisfaction."""
    days = _days()
    figures = reports.sla_report(days)
    if request.args.get("format") == "csv":
        stamp = utcnow().strftime("%Y%m%d")
        return Response(stream_with_context(reports.sla_csv(figures)), mimetype="text/csv",
                        headers={"Content-Disposition":
                                 f'attachment; filename="sla-report-{stamp}.csv"',
                                 "Cache-Control": "private, no-store"})
    return render_template("queues/report.html", figures=figures, days=days,
                           agents=reports.agent_load(), legal=reports.legal_compliance(days),
                           rating=reports.satisfaction(), missing=calendars.missing_years())


@bp.get("/reports/cases.csv")
@require_permission("queues.reports")
def cases_csv():
    """Every case with its queue side, as CSV (optionally one queue)."""
    slug = request.args.get("queue", "")[:40]
    queue = routing.queue_by_slug(slug)
    queue_id = queue.id if queue is not None else None
    stamp = utcnow().strftime("%Y%m%d")
    return Response(stream_with_context(reports.cases_csv(queue_id)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="cases-{stamp}.csv"',
                             "Cache-Control": "private, no-store"})
