"""Operations: /healthz and /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from flask import Blueprint
from prometheus_client.parser import text_string_to_metric_families

from portal.db import utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.notifications.models import OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_DB = "postgresql+psycopg://nobody@127.0.0.1:1/x"


def samples(body: str) -> dict[tuple[str, tuple], float]:
    """Parse Prometheus text into {(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def outbox(key: str, status: str, created_at=None) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=key, channel="email", recipient="a@example.com", language="en",
        template="test", body_text="hello", status=status,
        created_at=created_at or utcnow())


# --- /healthz -------------------------------------------------------------------------


def test_healthz_ok_when_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_503_without_details_when_database_is_unreachable(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB)  # starts without the database
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unavailable"}
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "psycopg" not in body and "127.0.0.1" not in body


def test_healthz_is_exempt_from_rate_limits(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
    limited = Blueprint("ops_limit_probe", __name__)
    limited.get("/ops-limit-probe")(lambda: "limited")
    app.register_blueprint(limited)
    client = app.test_client()
    assert [client.get("/ops-limit-probe").status_code for _ in range(3)] == [200, 200, 429]
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))


# --- /metrics -------------------------------------------------------------------------


def test_metrics_count_requests_by_method_endpoint_and_status(client):
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page-xyz")
    client.post("/healthz")  # 405
    found = scrape(client)
    assert found[("portal_http_requests_total", (
        ("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))] >= 3
    assert found[("portal_http_requests_total", (
        ("endpoint", "unmatched"), ("method", "GET"), ("status", "404")))] >= 1
    assert found[("portal_http_requests_total", (
        ("endpoint", "unmatched"), ("method", "POST"), ("status", "405")))] >= 1
    count_key = ("portal_http_request_duration_seconds_count",
                 (("endpoint", "ops.healthz"), ("method", "GET")))
    assert found[count_key] >= 3
    assert found[("portal_http_request_duration_seconds_sum",
                  (("endpoint", "ops.healthz"), ("method", "GET")))] > 0
    # The counters move: three more requests show up in the next scrape.
    before = found[("portal_http_requests_total", (
        ("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))]
    for _ in range(3):
        client.get("/healthz")
    after = scrape(client)[("portal_http_requests_total", (
        ("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))]
    assert after == before + 3


def test_metrics_are_per_app(make_app):
    first, second = make_app(), make_app()
    for _ in range(4):
        first.test_client().get("/healthz")
    found = scrape(second.test_client())
    key = ("portal_http_requests_total",
           (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))
    assert key not in found
    assert scrape(first.test_client())[key] == 4


def test_metrics_outbox_backlog_status_and_oldest_age(app, client):
    with app.app_context():
        db.session.add_all([
            outbox("k1", "pending", utcnow() - timedelta(minutes=10)),
            outbox("k2", "pending"),
            outbox("k3", "sending"),
            outbox("k4", "sent"),
            outbox("k5", "failed"),
        ])
        db.session.commit()
    found = scrape(client)
    assert found[("portal_metrics_database_up", ())] == 1
    assert found[("portal_outbox_backlog", ())] == 3
    assert found[("portal_outbox_messages", (("status", "pending"),))] == 2
    assert found[("portal_outbox_messages", (("status", "sent"),))] == 1
    assert found[("portal_outbox_messages", (("status", "delivered"),))] == 0
    age = found[("portal_outbox_oldest_pending_age_seconds", ())]
    assert 600 <= age < 3600


def test_metrics_empty_outbox(client):
    found = scrape(client)
    assert found[("portal_outbox_backlog", ())] == 0
    assert found[("portal_outbox_oldest_pending_age_seconds", ())] == 0


def test_metrics_job_failures_from_job_runs(app, client):
    with app.app_context():
        db.session.add_all([
            JobRun(name="outbox.sweep", failures=3, runs=10, last_succeeded_at=utcnow()),
            JobRun(name="feeds.rebuild", failures=0, runs=2),
        ])
        db.session.commit()
    found = scrape(client)
    assert found[("portal_job_failures_total", (("job", "outbox.sweep"),))] == 3
    assert found[("portal_job_failures_total", (("job", "feeds.rebuild"),))] == 0
    assert found[("portal_job_runs_total", (("job", "outbox.sweep"),))] == 10
    assert found[("portal_job_last_success_timestamp_seconds", (("job", "outbox.sweep"),))] > 0


def test_metrics_still_answer_when_database_is_down(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB)
    found = scrape(app.test_client())
    assert found[("portal_metrics_database_up", ())] == 0
    assert ("portal_outbox_backlog", ()) not in found


def test_metrics_token_required_when_configured(make_app):
    app = make_app(METRICS_TOKEN="s3cret-token")
    client = app.test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-token"}
                      ).status_code == 403
    denied = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token-and-more"})
    assert denied.status_code == 403
    assert denied.headers["Cache-Control"] == "no-store"
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert ok.headers["Cache-Control"] == "no-store"
    assert "portal_http_requests_total" in ok.get_data(as_text=True)


def test_metrics_open_without_token(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


WORKER = """
import sys
from portal import create_app
app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": sys.argv[1],
                  "RATELIMIT_STORAGE_URI": "memory://", "OUTBOX_DISPATCH": "none"})
client = app.test_client()
for _ in range(int(sys.argv[2])):
    assert client.get("/healthz").status_code == 200
if sys.argv[3] == "scrape":
    sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_multiprocess_mode_merges_workers(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape sums the requests of every worker process."""
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    uri = f"sqlite:///{tmp_path / 'workers.db'}"

    def start(requests: int, mode: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", WORKER, uri, str(requests), mode],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(process: subprocess.Popen) -> str:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-2000:]
        return out

    workers = [start(2, "none"), start(3, "none")]
    for process in workers:
        finish(process)
    found = samples(finish(start(1, "scrape")))
    key = ("portal_http_requests_total",
           (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")))
    assert found[key] == 6
    assert found[("portal_http_request_duration_seconds_count",
                  (("endpoint", "ops.healthz"), ("method", "GET")))] == 6
