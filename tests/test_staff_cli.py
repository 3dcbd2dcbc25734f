"""``flask staff ...`` and ``flask tokens ...``."""

from __future__ import annotations

import re

import pytest
from test_staff_support import audit_rows, make_staff

from portal.extensions import db
from portal.staff.models import ApiToken, StaffUser


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


def _user(app, email):
    with app.app_context():
        user = db.session.query(StaffUser).filter_by(email=email).one_or_none()
        if user is not None:
            db.session.expunge(user)
        return user


def test_create_with_password_option(app, runner):
    result = runner.invoke(args=["staff", "create", "Ops@Example.com", "--role", "commander",
                                 "--password", "a long enough password", "--name", "Ops"])
    assert result.exit_code == 0, result.output
    user = _user(app, "ops@example.com")
    assert user.role == "commander" and user.name == "Ops"
    entry = audit_rows(app, "staff.created")[-1]
    assert entry.actor_label.startswith("cli:") and entry.target_id == str(user.id)


def test_create_prompts_twice_for_a_hidden_password(app, runner):
    result = runner.invoke(args=["staff", "create", "p@example.com", "--role", "agent"],
                           input="a long enough password\na long enough password\n")
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output  # hidden
    assert "Password:" in result.output and "Repeat for confirmation" in result.output
    assert _user(app, "p@example.com") is not None


def test_create_prompt_mismatch_asks_again(app, runner):
    result = runner.invoke(args=["staff", "create", "p@example.com", "--role", "agent"],
                           input="a long enough password\nsomething else entirely\n"
                                 "a long enough password\na long enough password\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output


@pytest.mark.parametrize("args,message,code", [
    (["--role", "emperor", "--password", "a long enough password"], "Invalid value", 2),
    (["--role", "agent", "--password", "short"], "at least 12 characters", 1),
    (["--role", "agent", "--password", "p@example.com"], "must not be the email", 1),
])
def test_create_refuses_bad_input(app, runner, args, message, code):
    result = runner.invoke(args=["staff", "create", "p@example.com", *args])
    assert result.exit_code == code
    assert message in result.output
    assert _user(app, "p@example.com") is None


def test_create_refuses_duplicate(app, runner):
    make_staff(app, "agent", "p@example.com")
    result = runner.invoke(args=["staff", "create", "P@example.com", "--role", "agent",
                                 "--password", "a long enough password"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_list(app, runner):
    make_staff(app, "agent", "a@example.com")
    make_staff(app, "admin", "b@example.com")
    result = runner.invoke(args=["staff", "list"])
    assert result.exit_code == 0
    assert "a@example.com" in result.output and "admin" in result.output


def test_deactivate(app, runner):
    make_staff(app, "admin", "root@example.com")
    uid = make_staff(app, "agent", "a@example.com")
    result = runner.invoke(args=["staff", "deactivate", "a@example.com"])
    assert result.exit_code == 0, result.output
    user = _user(app, "a@example.com")
    assert not user.active and user.session_version == 2
    entry = audit_rows(app, "staff.deactivated")[-1]
    assert entry.actor_label.startswith("cli:") and entry.target_id == str(uid)
    missing = runner.invoke(args=["staff", "deactivate", "nobody@example.com"])
    assert missing.exit_code == 1 and "No staff account" in missing.output


def test_set_password_by_prompt(app, runner, client):
    make_staff(app, "agent", "a@example.com")
    result = runner.invoke(args=["staff", "set-password", "a@example.com"],
                           input="another long password\nanother long password\n")
    assert result.exit_code == 0, result.output
    assert _user(app, "a@example.com").session_version == 2
    assert audit_rows(app, "staff.password_set")[-1].actor_label.startswith("cli:")
    response = client.post("/staff/login", data={"email": "a@example.com",
                                                 "password": "another long password"})
    assert response.status_code == 302


def test_unlock(app, runner):
    from datetime import timedelta

    from portal.db import utcnow

    uid = make_staff(app, "agent", "a@example.com")
    with app.app_context():
        db.session.get(StaffUser, uid).locked_until = utcnow() + timedelta(minutes=5)
        db.session.commit()
    result = runner.invoke(args=["staff", "unlock", "a@example.com"])
    assert result.exit_code == 0
    assert _user(app, "a@example.com").locked_until is None
    assert audit_rows(app, "staff.unlocked")[-1].actor_label.startswith("cli:")


def test_tokens_create_list_revoke(app, runner, client):
    result = runner.invoke(args=["tokens", "create", "Carrier Z", "--scope", "cases:read",
                                 "--scope", "parcels:write"])
    assert result.exit_code == 0, result.output
    raw = re.search(r"pt_[A-Za-z0-9_-]{43}", result.output).group(0)
    whoami = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {raw}"})
    assert whoami.json == {"token": "Carrier Z", "prefix": raw[:8],
                           "scopes": ["cases:read", "parcels:write"]}
    listing = runner.invoke(args=["tokens", "list"])
    assert "Carrier Z" in listing.output and raw not in listing.output
    assert raw[:8] in listing.output
    with app.app_context():
        token_id = db.session.query(ApiToken).one().id
    assert audit_rows(app, "api.token_created")[-1].actor_label.startswith("cli:")
    revoked = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert revoked.exit_code == 0
    assert client.get("/api/v1/whoami",
                      headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    missing = runner.invoke(args=["tokens", "revoke", "99999"])
    assert missing.exit_code == 1 and "No API token" in missing.output


def test_tokens_create_refuses_unknown_scope(app, runner):
    result = runner.invoke(args=["tokens", "create", "Bad", "--scope", "root"])
    assert result.exit_code == 2
    with app.app_context():
        assert db.session.query(ApiToken).count() == 0
