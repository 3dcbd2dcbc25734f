"""Staff administration: create, change role, deactivate, reactivate, unlock; all audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_staff_support import PASSWORD, audit_rows, login, make_staff, signed_in

from portal.db import utcnow
from portal.extensions import db
from portal.staff.models import StaffUser


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


@pytest.fixture
def admin(app, client):
    """An administrator, signed in on ``client``; returns the admin's id."""
    uid = make_staff(app, "admin", "boss@example.com")
    login(client, "boss@example.com")
    return uid


def _get(app, uid):
    with app.app_context():
        user = db.session.get(StaffUser, uid)
        db.session.expunge(user)
        return user


def _last(app, action):
    rows = audit_rows(app, action)
    assert rows, f"no audit entry {action}"
    return rows[-1]


def test_list_shows_staff(app, client, admin):
    make_staff(app, "agent", "a1@example.com", name="Li Na")
    html = client.get("/staff/users?lang=en").get_data(as_text=True)
    assert "a1@example.com" in html and "Li Na" in html and "boss@example.com" in html


def test_create_account(app, client, admin):
    response = client.post("/staff/users", data={
        "email": "New.Person@Example.com", "name": "New Person", "role": "supervisor",
        "password": "a long enough password"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.query(StaffUser).filter_by(email="new.person@example.com").one()
        assert user.role == "supervisor" and user.name == "New Person"
        assert user.password_hash.startswith("$argon2id$")
        assert "a long enough password" not in user.password_hash
        uid = user.id
    entry = _last(app, "staff.created")
    assert entry.actor_id == admin and entry.actor_label == "boss@example.com"
    assert (entry.target_type, entry.target_id) == ("staff_user", str(uid))
    assert entry.detail == {"email": "new.person@example.com", "role": "supervisor"}
    client.post("/staff/logout")
    assert login(client, "new.person@example.com", "a long enough password").status_code == 302


@pytest.mark.parametrize("data,message", [
    ({"email": "p@example.com", "role": "agent", "password": "short"},
     "The password must have at least 12 characters."),
    ({"email": "p@example.com", "role": "agent", "password": "P@example.com"},
     "The password must not be the email address."),
    ({"email": "not-an-email", "role": "agent", "password": "a long enough password"},
     "Please enter a valid email address."),
    ({"email": "BOSS@example.com", "role": "agent", "password": "a long enough password"},
     "A staff account with this email already exists."),
])
def test_create_account_refused(app, client, admin, data, message):
    response = client.post("/staff/users?lang=en", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(StaffUser).count() == 1
    assert not audit_rows(app, "staff.created")[1:]


def test_unknown_role_refused(app, client, admin):
    response = client.post("/staff/users", data={
        "email": "p@example.com", "role": "emperor", "password": "a long enough password"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.query(StaffUser).count() == 1


def test_change_role(app, client, admin):
    uid = make_staff(app, "agent")
    assert client.post(f"/staff/users/{uid}/role", data={"role": "commander"}).status_code == 302
    assert _get(app, uid).role == "commander"
    entry = _last(app, "staff.role_changed")
    assert entry.actor_label == "boss@example.com" and entry.target_id == str(uid)
    assert entry.detail == {"old": "agent", "new": "commander"}


def test_last_admin_keeps_role_and_stays_active(app, client, admin):
    client.post(f"/staff/users/{admin}/role", data={"role": "agent"})
    assert _get(app, admin).role == "admin"
    client.post(f"/staff/users/{admin}/deactivate")
    assert _get(app, admin).active
    assert not audit_rows(app, "staff.role_changed")
    assert not audit_rows(app, "staff.deactivated")


def test_deactivate_and_reactivate(app, client, admin):
    uid = make_staff(app, "agent")
    assert client.post(f"/staff/users/{uid}/deactivate").status_code == 302
    user = _get(app, uid)
    assert not user.active and user.session_version == 2
    entry = _last(app, "staff.deactivated")
    assert entry.actor_id == admin and entry.target_id == str(uid)
    other = app.test_client()
    assert login(other, "agent@example.com").status_code == 200
    assert not signed_in(other)
    assert client.post(f"/staff/users/{uid}/reactivate").status_code == 302
    assert _get(app, uid).active
    assert _last(app, "staff.reactivated").target_id == str(uid)
    assert login(other, "agent@example.com").status_code == 302


def test_unlock(app, client, admin):
    uid = make_staff(app, "agent")
    with app.app_context():
        user = db.session.get(StaffUser, uid)
        user.locked_until = utcnow() + timedelta(minutes=10)
        user.failed_logins = 2
        db.session.commit()
    html = client.get("/staff/users?lang=en").get_data(as_text=True)
    assert "Locked until" in html
    other = app.test_client()
    assert login(other, "agent@example.com", PASSWORD).status_code == 200  # locked
    assert client.post(f"/staff/users/{uid}/unlock").status_code == 302
    user = _get(app, uid)
    assert user.locked_until is None and user.failed_logins == 0
    assert _last(app, "staff.unlocked").actor_label == "boss@example.com"
    assert login(other, "agent@example.com", PASSWORD).status_code == 302


def test_unknown_account_is_404(client, admin):
    assert client.post("/staff/users/999999/deactivate").status_code == 404
