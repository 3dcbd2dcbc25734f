"""Operations endpoints: ``/healthz`` and ``/metrics``.

``/healthz`` runs ``SELECT 1`` and answers 200 or 503; it is exempt from rate limits so
a load balancer probing it never gets 429. ``/metrics`` serves Prometheus text; see
``portal.ops.metrics`` for what is measured and how several gunicorn workers are merged.
"""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from portal.ops import metrics, routes  # noqa: E402,F401 - routes register on bp

bp.record_once(lambda state: metrics.init_metrics(state.app))
