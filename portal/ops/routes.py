"""``/healthz`` for load balancers and ``/metrics`` for Prometheus."""

from __future__ import annotations

import hmac
import logging

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.limits import exempt_from_limits
from portal.ops import bp
from portal.ops.metrics import render_latest

log = logging.getLogger("portal.ops")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.after_request
def no_store(response):
    """Health and metrics must never come from a cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
@exempt_from_limits
def healthz():
    """200 when the database answers ``SELECT 1``, else 503 (no details leaked)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("healthz: database unavailable: %s", type(error).__name__,
                    extra={"event": "healthz.database_unavailable"})
        return jsonify(status="unavailable", database="unavailable"), 503
    return jsonify(status="ok", database="ok")


def _authorised() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode())


@bp.get("/metrics")
def metrics():
    """Prometheus text format; with ``METRICS_TOKEN`` set, a bearer token is required."""
    if not _authorised():
        abort(403)
    return Response(render_latest(current_app._get_current_object()),
                    content_type=PROMETHEUS_CONTENT_TYPE)
