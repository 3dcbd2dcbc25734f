"""Sign-in, lock-out, sign-out, password change, session endings and CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_staff_support import PASSWORD, audit_rows, csrf_token_from, login, make_staff, signed_in

from portal.db import utcnow
from portal.extensions import db
from portal.staff.models import StaffUser

GENERIC = "Sign-in failed. Check the email and password."


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


def _user(app, user_id: int) -> StaffUser:
    with app.app_context():
        user = db.session.get(StaffUser, user_id)
        db.session.expunge(user)
        return user


def test_login_page_has_form(client):
    html = client.get("/staff/login?lang=en").get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html and 'type="submit"' in html


def test_login_success_redirects_to_dashboard_and_greets(app, client):
    uid = make_staff(app, "commander", "c@example.com", name="Chen Wei")
    response = login(client, "C@Example.com ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    html = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "Chen Wei" in html and "Incident commander" in html
    assert _user(app, uid).last_login_at is not None
    with client.session_transaction() as sess:
        assert sess.permanent
    entry = audit_rows(app, "staff.login")[-1]
    assert entry.actor_id == uid and entry.target_id == str(uid)


def test_login_regenerates_the_session(app, client):
    make_staff(app, "agent")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client, "agent@example.com")
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert "_user_id" in sess


def test_wrong_password_and_unknown_email_give_the_same_message(app, client):
    make_staff(app, "agent")
    wrong = login(client, "agent@example.com", "not the password at all")
    unknown = login(client, "nobody@example.com", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 200
    body_wrong = client.get("/staff/login?lang=en")  # flash already consumed by render
    assert body_wrong.status_code == 200
    assert GENERIC in login(client, "agent@example.com", "x" * 14).get_data(as_text=True)
    assert GENERIC in login(client, "nobody@example.com", "x" * 14).get_data(as_text=True)
    assert not signed_in(client)


def test_unknown_email_still_verifies_a_hash(app, client, monkeypatch):
    from argon2 import PasswordHasher

    calls = []
    original = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(hash_)
        return original(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    login(client, "nobody@example.com", "whatever password")
    assert len(calls) == 1


def test_lockout_after_max_failures_then_expiry(app, client):
    app.config["LOGIN_MAX_FAILURES"] = 3
    app.config["LOGIN_LOCKOUT_MINUTES"] = 15
    uid = make_staff(app, "agent")
    for _ in range(3):
        assert login(client, "agent@example.com", "wrong password!!").status_code == 200
    user = _user(app, uid)
    assert user.locked_until is not None
    assert user.locked_until > utcnow() + timedelta(minutes=14)
    # Locked: the right password is refused, with the same generic message.
    response = login(client, "agent@example.com", PASSWORD)
    assert response.status_code == 200
    assert GENERIC in client.post("/staff/login?lang=en", data={
        "email": "agent@example.com", "password": PASSWORD}).get_data(as_text=True)
    assert not signed_in(client)
    assert audit_rows(app, "staff.locked")
    assert audit_rows(app, "staff.login_refused")[-1].detail["reason"] == "locked"
    # The lock expires.
    with app.app_context():
        db.session.get(StaffUser, uid).locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert login(client, "agent@example.com").status_code == 302
    assert signed_in(client)
    assert _user(app, uid).failed_logins == 0


def test_failures_below_the_limit_do_not_lock(app, client):
    app.config["LOGIN_MAX_FAILURES"] = 3
    uid = make_staff(app, "agent")
    for _ in range(2):
        login(client, "agent@example.com", "wrong password!!")
    assert _user(app, uid).locked_until is None
    assert _user(app, uid).failed_logins == 2
    assert login(client, "agent@example.com").status_code == 302


def test_deactivated_user_cannot_sign_in(app, client):
    uid = make_staff(app, "agent")
    with app.app_context():
        db.session.get(StaffUser, uid).active = False
        db.session.commit()
    assert login(client, "agent@example.com").status_code == 200
    assert not signed_in(client)


@pytest.mark.parametrize("target,expected", [
    ("/staff/audit?action=staff.", "/staff/audit?action=staff."),
    ("//evil.example/x", "/staff/"),
    ("https://evil.example/", "/staff/"),
    ("/\\evil.example", "/staff/"),
    ("javascript:alert(1)", "/staff/"),
])
def test_next_redirect_is_only_local(app, client, target, expected):
    from urllib.parse import quote

    make_staff(app, "admin")
    response = login(client, "admin@example.com", next_url=quote(target, safe=""))
    assert response.headers["Location"] == expected


def test_signed_in_user_visiting_login_goes_to_dashboard(app, client):
    make_staff(app, "agent")
    login(client, "agent@example.com")
    assert client.get("/staff/login").headers["Location"] == "/staff/"


def test_logout_is_post_only_and_ends_the_session(app, client):
    make_staff(app, "agent")
    login(client, "agent@example.com")
    assert client.get("/staff/logout").status_code == 405
    assert signed_in(client)
    response = client.post("/staff/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    assert not signed_in(client)
    assert audit_rows(app, "staff.logout")


def test_password_change_ends_other_sessions(app, client):
    uid = make_staff(app, "agent")
    other = app.test_client()
    login(client, "agent@example.com")
    login(other, "agent@example.com")
    response = client.post("/staff/password", data={
        "current_password": PASSWORD, "new_password": "a brand new password",
        "confirm": "a brand new password"})
    assert response.status_code == 302
    assert signed_in(client)  # this session was signed in again
    stale = other.get("/staff/")
    assert stale.status_code == 302 and stale.headers["Location"].startswith("/staff/login")
    assert _user(app, uid).session_version == 2
    client.post("/staff/logout")
    assert login(client, "agent@example.com").status_code == 200  # old password refused
    assert login(client, "agent@example.com", "a brand new password").status_code == 302
    assert audit_rows(app, "staff.password_changed")[-1].target_id == str(uid)


@pytest.mark.parametrize("current,new,message", [
    ("not my password!!", "a brand new password", "The current password is not correct."),
    (PASSWORD, "too short", "The password must have at least 12 characters."),
    (PASSWORD, "agent@example.com", "The password must not be the email address."),
])
def test_password_change_is_refused(app, client, current, new, message):
    uid = make_staff(app, "agent")
    login(client, "agent@example.com")
    response = client.post("/staff/password?lang=en", data={
        "current_password": current, "new_password": new, "confirm": new})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _user(app, uid).session_version == 1


def test_deactivation_ends_sessions(app, client):
    make_staff(app, "admin")
    uid = make_staff(app, "agent")
    victim = app.test_client()
    login(victim, "agent@example.com")
    assert signed_in(victim)
    login(client, "admin@example.com")
    assert client.post(f"/staff/users/{uid}/deactivate").status_code == 302
    response = victim.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/login")


def test_password_is_rehashed_when_parameters_change(app, client):
    uid = make_staff(app, "agent")
    old_hash = _user(app, uid).password_hash
    assert "m=64,t=1,p=1" in old_hash
    app.config["PASSWORD_HASH_FAST"] = False
    assert login(client, "agent@example.com").status_code == 302
    new_hash = _user(app, uid).password_hash
    assert new_hash != old_hash and "m=65536,t=3,p=4" in new_hash


def test_production_default_is_argon2_defaults(app_ctx):
    from argon2 import PasswordHasher

    from portal.staff import services

    app_ctx.config.pop("PASSWORD_HASH_FAST", None)
    hasher = services.password_hasher()
    default = PasswordHasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        default.time_cost, default.memory_cost, default.parallelism)


# --- CSRF --------------------------------------------------------------------------------

def test_login_post_without_csrf_token_is_rejected(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    make_staff(app, "agent")
    response = login(client, "agent@example.com")
    assert response.status_code == 400
    assert not signed_in(client)


def test_login_with_csrf_token_works(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    make_staff(app, "agent")
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={
        "email": "agent@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    # The sign-out button in the navigation carries a (new) token, and works.
    html = client.get("/staff/").get_data(as_text=True)
    assert client.post("/staff/logout").status_code == 400  # no token: refused
    assert signed_in(client)
    response = client.post("/staff/logout", data={"csrf_token": csrf_token_from(html)})
    assert response.status_code == 302
    assert not signed_in(client)


def test_admin_post_without_csrf_token_is_rejected(app, client):
    make_staff(app, "admin")
    uid = make_staff(app, "agent")
    login(client, "admin@example.com")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/staff/users/{uid}/deactivate").status_code == 400
    assert _user(app, uid).active


def test_login_post_is_marked_for_the_login_rate_limit(app):
    view = app.view_functions["staff.login"]
    assert ("RATELIMIT_LOGIN", None, ["POST"], None) in view._portal_limits


def test_login_is_rate_limited(make_app):
    new_app = make_app(RATELIMIT_LOGIN="3 per minute", PASSWORD_HASH_FAST=True)
    client = new_app.test_client()
    codes = [login(client, "x@example.com", "wrong password!!").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/staff/login").status_code == 200  # reading the form stays free
