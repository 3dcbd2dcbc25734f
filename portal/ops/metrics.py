"""Prometheus metrics: per-app registry, request hooks and a database collector.

What is exported
----------------
- ``portal_http_requests_total{method,endpoint,status}``: requests answered (the endpoint
  is the Flask endpoint name, ``unmatched`` for unknown URLs, so random paths cannot
  blow up the number of series).
- ``portal_http_request_duration_seconds{method,endpoint}``: latency histogram.
- Computed from the database at every scrape (``DatabaseCollector``), so every worker
  reports the same truth: ``portal_outbox_backlog`` (pending + sending rows),
  ``portal_outbox_oldest_pending_age_seconds``, ``portal_outbox_messages{status}``,
  ``portal_job_failures_total{job}``, ``portal_job_runs_total{job}``,
  ``portal_job_last_success_timestamp_seconds{job}`` and ``portal_metrics_database_up``.

One registry per app
--------------------
Each Flask app gets its own ``CollectorRegistry`` (``app.extensions["portal_metrics"]``);
the global default registry is never used, so several apps can live in one process (the
tests build many) without "Duplicated timeseries" errors.

Several gunicorn workers (multiprocess mode)
--------------------------------------------
A counter in one worker's memory only counts that worker's requests, and Prometheus
reaches a random worker on each scrape. When ``PROMETHEUS_MULTIPROC_DIR`` is set in the
environment *before the process starts* (prometheus_client chooses its storage at
import time), the request metrics are written to memory-mapped files in that directory
and ``/metrics`` merges every worker's files with ``MultiProcessCollector``. Operators:

- create an empty directory and export ``PROMETHEUS_MULTIPROC_DIR=/run/portal-metrics``
  for gunicorn; wipe it at each (re)start, because old files are merged too;
- in ``gunicorn.conf.py`` add ``def child_exit(server, worker):
  from prometheus_client import multiprocess; multiprocess.mark_process_dead(worker.pid)``.

The database metrics are computed at scrape time and need no multiprocess handling.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from portal.db import utcnow
from portal.extensions import db

log = logging.getLogger("portal.ops")

EXTENSION_KEY = "portal_metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class AppMetrics:
    """The metrics objects of one app."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    multiprocess_dir: str | None


def multiprocess_dir() -> str | None:
    """Return the multiprocess directory when prometheus_client runs in that mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def init_metrics(app: Flask) -> None:
    """Create the app's registry and metrics and install the request hooks."""
    registry = CollectorRegistry(auto_describe=True)
    shared_dir = multiprocess_dir()
    # In multiprocess mode the values live in files; the scrape reads them back.
    target = None if shared_dir else registry
    requests = Counter(
        "portal_http_requests", "HTTP requests answered.",
        ["method", "endpoint", "status"], registry=target)
    latency = Histogram(
        "portal_http_request_duration_seconds", "Time spent answering HTTP requests.",
        ["method", "endpoint"], buckets=LATENCY_BUCKETS, registry=target)
    registry.register(DatabaseCollector(app))
    app.extensions[EXTENSION_KEY] = AppMetrics(registry, requests, latency, shared_dir)
    app.before_request(_start_timer)
    app.after_request(_record_request)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record_request(response):
    metrics: AppMetrics | None = current_app.extensions.get(EXTENSION_KEY)
    if metrics is None:
        return response
    endpoint = request.endpoint or "unmatched"
    metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.latency.labels(request.method, endpoint).observe(time.perf_counter() - started)
    return response


def render_latest(app: Flask) -> bytes:
    """Return the app's metrics in the Prometheus text format."""
    metrics: AppMetrics = app.extensions[EXTENSION_KEY]
    if not metrics.multiprocess_dir:
        return generate_latest(metrics.registry)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics.multiprocess_dir)
    registry.register(DatabaseCollector(app))
    return generate_latest(registry)


class DatabaseCollector:
    """Outbox and job health, read from the database at scrape time."""

    def __init__(self, app: Flask):
        """Remember the app whose database is read."""
        self.app = app

    def describe(self):
        """Describe the families (without touching the database)."""
        return self._families()

    def _families(self):
        return [
            GaugeMetricFamily("portal_metrics_database_up",
                              "1 when the database answered the metrics queries."),
            GaugeMetricFamily("portal_outbox_backlog",
                              "Outbox messages waiting to be sent (pending + sending)."),
            GaugeMetricFamily("portal_outbox_oldest_pending_age_seconds",
                              "Age of the oldest pending outbox message (0 when none)."),
            GaugeMetricFamily("portal_outbox_messages", "Outbox messages by status.",
                              labels=["status"]),
            CounterMetricFamily("portal_job_failures", "Failures recorded per background job.",
                                labels=["job"]),
            CounterMetricFamily("portal_job_runs", "Runs recorded per background job.",
                                labels=["job"]),
            GaugeMetricFamily("portal_job_last_success_timestamp_seconds",
                              "Unix time of each job's last success.", labels=["job"]),
        ]

    def collect(self):
        """Query the database and yield the families; database down -> only ``up 0``."""
        up, backlog, oldest, by_status, failures, runs, last_ok = self._families()
        with self.app.app_context():
            try:
                rows = self._query()
            except SQLAlchemyError as error:
                db.session.rollback()
                log.warning("metrics: database unavailable: %s", type(error).__name__,
                            extra={"event": "metrics.database_unavailable"})
                up.add_metric([], 0)
                yield up
                return
        status_counts, oldest_created, jobs = rows
        up.add_metric([], 1)
        yield up
        backlog.add_metric([], status_counts.get("pending", 0) + status_counts.get("sending", 0))
        yield backlog
        age = (utcnow() - oldest_created).total_seconds() if oldest_created else 0.0
        oldest.add_metric([], max(age, 0.0))
        yield oldest
        for status, count in sorted(status_counts.items()):
            by_status.add_metric([status], count)
        yield by_status
        for job in jobs:
            failures.add_metric([job.name], job.failures or 0)
            runs.add_metric([job.name], job.runs or 0)
            if job.last_succeeded_at:
                last_ok.add_metric([job.name], job.last_succeeded_at.timestamp())
        yield failures
        yield runs
        yield last_ok

    @staticmethod
    def _query():
        from portal.models import JobRun
        from portal.notifications.models import OutboxMessage, OutboxStatus

        counts = {status.value: 0 for status in OutboxStatus}
        for status, count in db.session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)):
            counts[str(status)] = count
        oldest = db.session.execute(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING.value)).scalar()
        jobs = db.session.execute(
            select(JobRun.name, JobRun.failures, JobRun.runs, JobRun.last_succeeded_at)
            .order_by(JobRun.name)).all()
        result = (counts, oldest, list(jobs))
        db.session.rollback()
        return result
