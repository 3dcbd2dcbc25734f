"""The audit log: ``record`` (actor, request id, address, transaction) and the audit page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Blueprint, g, jsonify
from test_staff_support import audit_rows, login, make_staff

from portal.extensions import db
from portal.staff import audit
from portal.staff.models import AuditEntry


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


def _add_entries(app, count, action="test.thing", actor="someone@example.com",
                 target_type="thing"):
    with app.app_context():
        for i in range(count):
            audit.record(action, target_type, str(i), actor_label=actor, n=i)
        db.session.commit()


def test_record_outside_a_request_is_system(app_ctx):
    entry = audit.record("system.job", "thing", 5, when=datetime(2026, 1, 2, tzinfo=UTC),
                         items={"a", "b"} and ["a"])
    db.session.commit()
    stored = db.session.get(AuditEntry, entry.id)
    assert stored.actor_label == "system" and stored.actor_id is None
    assert stored.target_id == "5" and stored.ip is None and stored.request_id is None
    assert stored.detail == {"when": "2026-01-02T00:00:00+00:00", "items": ["a"]}
    assert stored.at.tzinfo is not None


def test_actor_label_override_and_context_label(app_ctx):
    assert audit.record("a.b", actor_label="cli:ops").actor_label == "cli:ops"
    g.audit_actor_label = "task:sweeper"
    assert audit.record("a.c").actor_label == "task:sweeper"


def test_record_belongs_to_the_callers_transaction(app_ctx):
    audit.record("will.vanish")
    db.session.rollback()
    assert db.session.query(AuditEntry).filter_by(action="will.vanish").count() == 0


def _recording_app(make_app):
    app = make_app(PASSWORD_HASH_FAST=True)
    bp = Blueprint("audit_test", __name__)

    @bp.post("/audit-test")
    def do_something():
        entry = audit.record("test.done", "thing", "7", colour="blue")
        db.session.commit()
        return jsonify(id=entry.id)

    app.register_blueprint(bp)
    return app


def test_record_in_a_request_takes_the_signed_in_user(make_app):
    app = _recording_app(make_app)
    uid = make_staff(app, "agent", "agent@example.com")
    client = app.test_client()
    login(client, "agent@example.com")
    response = client.post("/audit-test", headers={"X-Request-ID": "req1234567890abc"})
    with app.app_context():
        entry = db.session.get(AuditEntry, response.json["id"])
        assert entry.actor_id == uid and entry.actor_label == "agent@example.com"
        assert entry.action == "test.done" and entry.detail == {"colour": "blue"}
        assert (entry.target_type, entry.target_id) == ("thing", "7")
        assert entry.ip == "127.0.0.1"
        assert entry.request_id == "req1234567890abc"


def test_record_in_an_anonymous_request_is_system(make_app):
    app = _recording_app(make_app)
    response = app.test_client().post("/audit-test",
                                      environ_base={"REMOTE_ADDR": "203.0.113.9"})
    with app.app_context():
        entry = db.session.get(AuditEntry, response.json["id"])
        assert entry.actor_label == "system" and entry.actor_id is None
        assert entry.ip == "203.0.113.9"


def test_list_entries_keyset_pagination(app_ctx):
    _add_entries(app_ctx, 120)
    first = audit.list_entries()
    assert len(first.entries) == 50
    ids = [e.id for e in first.entries]
    assert ids == sorted(ids, reverse=True)
    second = audit.list_entries(before=first.next_before)
    third = audit.list_entries(before=second.next_before)
    assert len(second.entries) == 50 and len(third.entries) == 20
    assert third.next_before is None
    seen = ids + [e.id for e in second.entries] + [e.id for e in third.entries]
    assert len(set(seen)) == 120 and max(second.entries, key=lambda e: e.id).id < min(ids)


def test_list_entries_filters(app_ctx):
    _add_entries(app_ctx, 3, action="staff.created", actor="Boss@Example.com",
                 target_type="staff_user")
    _add_entries(app_ctx, 2, action="incident.published", actor="cmd@example.com",
                 target_type="incident")
    assert len(audit.list_entries(action="staff.").entries) == 3
    assert len(audit.list_entries(action="incident.published").entries) == 2
    assert len(audit.list_entries(actor="boss@").entries) == 3
    assert len(audit.list_entries(target="incident").entries) == 2
    only = audit.list_entries(target="staff_user:1").entries
    assert [(e.target_type, e.target_id) for e in only] == [("staff_user", "1")]
    assert audit.list_entries(action="staff%").entries == []  # wildcards are literal


@pytest.mark.parametrize("role,status", [("admin", 200), ("commander", 200),
                                         ("supervisor", 200), ("responder", 403),
                                         ("agent", 403)])
def test_audit_page_access(app, client, role, status):
    make_staff(app, role)
    login(client, f"{role}@example.com")
    assert client.get("/staff/audit").status_code == status


def test_audit_page_lists_filters_and_pages(app, client):
    make_staff(app, "supervisor")
    _add_entries(app, 60, action="test.bulk", actor="bulk@example.com")
    _add_entries(app, 1, action="other.thing", actor="else@example.com")
    login(client, "supervisor@example.com")
    html = client.get("/staff/audit?lang=en").get_data(as_text=True)
    assert "other.thing" in html and "Older entries" in html
    filtered = client.get("/staff/audit?lang=en&action=test.bulk").get_data(as_text=True)
    assert "other.thing" not in filtered and filtered.count("<code>test.bulk</code>") == 50
    assert "before=" in filtered and "action=test.bulk" in filtered
    with client.application.app_context():
        page = audit.list_entries(action="test.bulk")
    older = client.get(f"/staff/audit?lang=en&action=test.bulk&before={page.next_before}")
    assert older.get_data(as_text=True).count("<code>test.bulk</code>") == 10
    by_actor = client.get("/staff/audit?lang=en&actor=else@").get_data(as_text=True)
    assert "other.thing" in by_actor and "test.bulk" not in by_actor


def test_sign_in_is_audited(app, client):
    uid = make_staff(app, "agent")
    login(client, "agent@example.com", "wrong password!!")
    login(client, "agent@example.com")
    failed = audit_rows(app, "staff.login_failed")[-1]
    assert failed.actor_label == "anonymous" and failed.target_id == str(uid)
    assert failed.detail["reason"] == "password"
    ok = audit_rows(app, "staff.login")[-1]
    assert ok.actor_id == uid and ok.ip == "127.0.0.1"
