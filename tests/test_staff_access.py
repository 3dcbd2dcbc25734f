"""Who may open which staff page: every role against every staff route."""

from __future__ import annotations

import pytest
from test_staff_support import ROLES, login, make_staff

# The expected matrix, written out (not derived from PERMISSIONS) so a change shows up here.
PAGES = {
    "/staff/": set(ROLES),
    "/staff/password": set(ROLES),
    "/staff/users": {"admin"},
    "/staff/tokens": {"admin"},
    "/staff/audit": {"admin", "commander", "supervisor"},
}
ADMIN_POSTS = ["/staff/users/{other}/role", "/staff/users/{other}/deactivate",
               "/staff/users/{other}/reactivate", "/staff/users/{other}/unlock",
               "/staff/users", "/staff/tokens", "/staff/tokens/1/revoke"]


@pytest.fixture(autouse=True)
def _fast_hash(app):
    app.config["PASSWORD_HASH_FAST"] = True


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(PAGES))
def test_role_may_open_page_or_gets_403(app, client, role, path):
    make_staff(app, role)
    assert login(client, f"{role}@example.com").status_code == 302
    response = client.get(path)
    expected = 200 if role in PAGES[path] else 403
    assert response.status_code == expected


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_admin_actions_are_refused_to_other_roles(app, client, role):
    from portal.extensions import db
    from portal.staff.models import ApiToken, StaffUser

    make_staff(app, role)
    other = make_staff(app, "agent", "other@example.com")
    login(client, f"{role}@example.com")
    for path in ADMIN_POSTS:
        response = client.post(path.format(other=other),
                               data={"role": "admin", "email": "new@example.com", "name": "x",
                                     "scopes": ["cases:read"], "password": "x" * 20})
        assert response.status_code == 403, path
    with app.app_context():
        assert db.session.get(StaffUser, other).role == "agent"
        assert db.session.get(StaffUser, other).active
        assert db.session.query(StaffUser).filter_by(email="new@example.com").count() == 0
        assert db.session.query(ApiToken).count() == 0


@pytest.mark.parametrize("path", [*PAGES, "/staff/users/1/deactivate"])
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path) if not path.endswith("deactivate") else client.post(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=")


def test_anonymous_api_whoami_is_401_not_redirect(client):
    response = client.get("/api/v1/whoami")
    assert response.status_code == 401


def test_nav_shows_links_per_permission(app, client):
    make_staff(app, "agent")
    login(client, "agent@example.com")
    html = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "/staff/audit" not in html and "/staff/users" not in html
    assert "Sign out" in html and "/staff/password" in html
    client.post("/staff/logout")
    make_staff(app, "admin")
    login(client, "admin@example.com")
    html = client.get("/staff/?lang=en").get_data(as_text=True)
    for path in ("/staff/audit", "/staff/users", "/staff/tokens"):
        assert path in html


def test_dashboard_panels_are_shown_per_permission(make_app):
    from jinja2 import ChoiceLoader, DictLoader

    from portal.staff.routes import DASHBOARD_PANELS, add_dashboard_panel

    app = make_app(PASSWORD_HASH_FAST=True)
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"test/panel.html": "<section>panel-for-auditors</section>"}),
        app.jinja_env.loader])
    add_dashboard_panel("test/panel.html", "audit.view")
    try:
        make_staff(app, "supervisor")
        make_staff(app, "agent")
        client = app.test_client()
        login(client, "supervisor@example.com")
        assert "panel-for-auditors" in client.get("/staff/").get_data(as_text=True)
        client.post("/staff/logout")
        login(client, "agent@example.com")
        assert "panel-for-auditors" not in client.get("/staff/").get_data(as_text=True)
    finally:
        DASHBOARD_PANELS[:] = [p for p in DASHBOARD_PANELS if p.template != "test/panel.html"]
