"""The stale-update alert: flagged on the dashboard, the commander notified once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_incidents_support import declare, get_incident, outbox
from test_staff_support import login, make_staff

from portal.db import utcnow


@pytest.fixture(autouse=True)
def _staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    make_staff(app, "commander")
    make_staff(app, "responder")


def _age(app, reference: str, minutes: int) -> None:
    """Pretend the last public update was ``minutes`` ago."""
    from portal.extensions import db
    from portal.incidents import queries

    with app.app_context():
        incident = queries.find(reference)
        incident.last_public_update_at = utcnow() - timedelta(minutes=minutes)
        db.session.commit()


def _check(app):
    from portal.incidents.tasks import check_stale_job

    with app.app_context():
        return check_stale_job()


def test_alert_fires_once_per_silence(app):
    ref = declare(app, publish=True)
    _age(app, ref, 29)
    assert _check(app) == []
    _age(app, ref, 31)
    assert _check(app) == [ref]
    assert _check(app) == []  # once, not every minute
    rows = outbox(app, "incident_stale")
    assert [r.recipient for r in rows] == ["commander@example.com"]
    assert ref in rows[0].subject and "31" in rows[0].subject
    # A new public update ends the silence; the next silence alerts again.
    client = app.test_client()
    login(client, "commander@example.com")
    client.post(f"/staff/incidents/{ref}/updates/new",
                data={"state": "identified", "body_zh_hans": "进展", "notify": ""})
    draft = next(u for u in get_incident(app, ref).updates if u.status == "draft")
    client.post(f"/staff/incidents/{ref}/updates/{draft.id}/publish")
    assert get_incident(app, ref).stale_alert_sent_at is None
    _age(app, ref, 45)
    assert _check(app) == [ref]
    assert len(outbox(app, "incident_stale")) == 2


def test_threshold_is_configurable_per_severity(app):
    app.config["INCIDENT_STALE_MINUTES"] = {"critical": 10, "major": 30, "minor": 60}
    critical = declare(app, publish=True, severity="critical")
    minor = declare(app, publish=True, severity="minor")
    _age(app, critical, 12)
    _age(app, minor, 45)
    assert _check(app) == [critical]


def test_drafts_and_resolved_incidents_are_never_stale(app):
    draft = declare(app)
    resolved = declare(app, publish=True)
    client = app.test_client()
    login(client, "commander@example.com")
    client.post(f"/staff/incidents/{resolved}/resolve", data={"notify": ""})
    _age(app, draft, 120)
    _age(app, resolved, 120)
    assert _check(app) == []


def test_dashboard_flags_the_stale_incident(app):
    ref = declare(app, publish=True)
    fresh = declare(app, publish=True, title=("新事件", "Fresh incident"))
    _age(app, ref, 40)
    client = app.test_client()
    login(client, "responder@example.com")
    html = client.get("/staff/incidents/?lang=en").get_data(as_text=True)
    assert html.count('class="stale"') == 1
    row = html[html.index('<tr class="stale"'):]
    assert ref in row[:row.index("</tr>")] and fresh not in row[:row.index("</tr>")]
    assert "No public update for over 30 minutes" in html


def test_cli_runs_the_check(app, runner):
    ref = declare(app, publish=True)
    _age(app, ref, 31)
    result = runner.invoke(args=["incidents", "check-stale"])
    assert result.exit_code == 0, result.output
    assert ref in result.output
    assert len(outbox(app, "incident_stale")) == 1


def test_every_app_gets_the_stale_check_and_its_beat_entry(app):
    from portal.incidents.tasks import CHECK_STALE

    celery_app = app.extensions["celery"]  # portal.tasks registered every feature's tasks
    assert CHECK_STALE in celery_app.tasks
    assert celery_app.conf.beat_schedule[CHECK_STALE]["task"] == CHECK_STALE
    assert "deliver-outbox" in celery_app.conf.beat_schedule  # the core's entries stay
