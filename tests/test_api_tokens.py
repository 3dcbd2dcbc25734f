"""API tokens: created and shown once, stored as a hash, checked by ``require_token``."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import select, text
from test_staff_support import audit_rows, login, make_staff

from portal.extensions import db
from portal.staff.models import ApiToken

TOKEN_RE = re.compile(r"pt_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


@pytest.fixture
def admin_client(app, client):
    """A client signed in as an administrator."""
    make_staff(app, "admin")
    login(client, "admin@example.com")
    return client


def _create(client, name="Carrier X", scopes=("cases:read",)):
    response = client.post("/staff/tokens?lang=en", data={"name": name, "scopes": list(scopes)})
    assert response.status_code == 200
    found = TOKEN_RE.findall(response.get_data(as_text=True))
    assert len(found) == 1
    return found[0]


def _bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


def _create_direct(app, scopes, name="direct"):
    from portal.api.auth import create_token

    with app.app_context():
        token, raw = create_token(name, list(scopes))
        db.session.commit()
        return token.id, raw


def test_token_is_shown_once_and_only_its_hash_stored(app, admin_client):
    raw = _create(admin_client, scopes=("cases:read", "parcels:write"))
    listing = admin_client.get("/staff/tokens?lang=en").get_data(as_text=True)
    assert raw not in listing and "Carrier X" in listing and raw[:8] in listing
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
        assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert token.prefix == raw[:8]
        assert token.scopes == ["cases:read", "parcels:write"]
        assert token.created_by.email == "admin@example.com"
        dump = " ".join(str(v) for v in db.session.execute(
            text("SELECT * FROM api_token")).one())
        assert raw not in dump and raw[8:] not in dump
        entries = " ".join(str(row) for row in db.session.execute(
            text("SELECT * FROM audit_entry")))
        assert raw not in entries and raw[8:] not in entries
    entry = audit_rows(app, "api.token_created")[-1]
    assert entry.actor_label == "admin@example.com" and entry.target_type == "api_token"


def test_token_creation_needs_a_scope(app, admin_client):
    response = admin_client.post("/staff/tokens?lang=en", data={"name": "No scope"})
    assert response.status_code == 200
    assert TOKEN_RE.search(response.get_data(as_text=True)) is None
    with app.app_context():
        assert db.session.query(ApiToken).count() == 0


def test_unknown_scope_refused(app, admin_client):
    admin_client.post("/staff/tokens", data={"name": "Bad", "scopes": ["root"]})
    with app.app_context():
        assert db.session.query(ApiToken).count() == 0


def test_whoami_with_a_token_records_use(app, admin_client):
    raw = _create(admin_client, name="Carrier Y", scopes=("cases:read",))
    response = app.test_client().get("/api/v1/whoami", headers=_bearer(raw))
    assert response.status_code == 200
    assert response.json["token"] == "Carrier Y"
    assert response.json["scopes"] == ["cases:read"]
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
        assert token.last_used_at is not None
        token_id = token.id
    entry = audit_rows(app, "api.token_used")[-1]
    assert entry.detail["endpoint"] == "api.whoami"
    assert entry.target_id == str(token_id)
    assert entry.actor_label.startswith("api:Carrier Y")
    assert entry.request_id == response.headers["X-Request-ID"]


@pytest.mark.parametrize("header", [
    None, "Bearer", "Bearer pt_not-a-real-token", "Basic dXNlcjpwYXNz", "Token pt_xxx"])
def test_missing_or_unknown_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.is_json and response.json["error"]["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(app, admin_client):
    raw = _create(admin_client)
    api = app.test_client()
    assert api.get("/api/v1/whoami", headers=_bearer(raw)).status_code == 200
    with app.app_context():
        token_id = db.session.scalars(select(ApiToken.id)).one()
    assert admin_client.post(f"/staff/tokens/{token_id}/revoke").status_code == 302
    assert api.get("/api/v1/whoami", headers=_bearer(raw)).status_code == 401
    assert audit_rows(app, "api.token_revoked")[-1].actor_label == "admin@example.com"
    assert "Revoked" in admin_client.get("/staff/tokens?lang=en").get_data(as_text=True)


def test_scope_is_enforced(make_app):
    from portal.api.auth import require_token

    app = make_app()
    bp = Blueprint("scope_test", __name__)

    @bp.post("/scope-test")
    @require_token("cases:write")
    def scoped():
        db.session.commit()
        return jsonify(ok=True)

    app.register_blueprint(bp)
    _, reader = _create_direct(app, ["cases:read"], "reader")
    _, writer = _create_direct(app, ["cases:read", "cases:write"], "writer")
    client = app.test_client()
    refused = client.post("/scope-test", headers=_bearer(reader))
    assert refused.status_code == 403 and refused.is_json
    assert "cases:write" in refused.json["error"]["message"]
    assert client.post("/scope-test", headers=_bearer(writer)).status_code == 200
    assert client.post("/scope-test").status_code == 401
    used = audit_rows(app, "api.token_used")
    assert [e.detail["endpoint"] for e in used] == ["scope_test.scoped"]


def test_unknown_scope_in_decorator_fails_at_import():
    from portal.api.auth import require_token

    with pytest.raises(KeyError):
        require_token("everything:write")


def test_api_blueprint_is_csrf_exempt(app):
    from portal.extensions import csrf

    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context("/api/v1/whoami"):
        assert csrf._is_exempt()
    with app.test_request_context("/staff/login"):
        assert not csrf._is_exempt()


def test_token_list_and_revoke_need_permission(app, client):
    make_staff(app, "commander")
    login(client, "commander@example.com")
    assert client.get("/staff/tokens").status_code == 403
