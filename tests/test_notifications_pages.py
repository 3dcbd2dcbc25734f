"""Public subscription pages (GET shows a button, POST acts) and the staff page of failed
notifications (permissions, masking, retry)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage, Subscription
from portal.notifications.services import Recipient, notify, subscribe
from portal.staff.models import StaffUser


def confirm_token() -> str:
    body = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "subscription_confirm")).one().body_text
    return body.split("/subscriptions/confirm/")[1].split("?")[0]


def test_confirm_page_shows_a_button_and_only_post_confirms(app, client):
    with app.app_context():
        sub_id = subscribe("email", "reader@example.com", "incident", "INC-1", "en").subscription.id
        db.session.commit()
        token = confirm_token()
    page = client.get(f"/subscriptions/confirm/{token}?lang=en")
    assert page.status_code == 200
    assert b'<html lang="en">' in page.data and b'method="post"' in page.data
    with app.app_context():
        assert db.session.get(Subscription, sub_id).status == "pending"  # GET changed nothing
    done = client.post(f"/subscriptions/confirm/{token}?lang=en")
    assert done.status_code == 200
    with app.app_context():
        assert db.session.get(Subscription, sub_id).status == "confirmed"


@pytest.mark.parametrize("lang,html_lang", [("en", b"en"), ("zh_Hant", b"zh-Hant"),
                                             ("zh_Hans", b"zh-Hans")])
def test_bad_token_is_a_clear_404_in_the_readers_language(client, lang, html_lang):
    for url in ("/subscriptions/confirm/abc.def", "/unsubscribe/nope"):
        response = client.get(f"{url}?lang={lang}")
        assert response.status_code == 404
        assert b'<html lang="' + html_lang + b'"' in response.data
        assert b'class="error-page"' in response.data
    assert client.post("/subscriptions/confirm/abc.def").status_code == 404


def test_bad_token_follows_accept_language(client):
    response = client.get("/unsubscribe/nope", headers={"Accept-Language": "zh-TW,zh;q=0.9"})
    assert response.status_code == 404 and b'<html lang="zh-Hant"' in response.data


def test_unsubscribe_page_then_post_then_resubscribe(app, client):
    with app.app_context():
        sub = subscribe("email", "reader@example.com", "all", language="en").subscription
        sub.status = "confirmed"
        db.session.commit()
        token, sub_id = sub.unsubscribe_token, sub.id
    page = client.get(f"/unsubscribe/{token}?lang=en")
    assert page.status_code == 200 and b'method="post"' in page.data
    with app.app_context():
        assert db.session.get(Subscription, sub_id).status == "confirmed"
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # one-click works too
    with app.app_context():
        assert db.session.get(Subscription, sub_id).status == "unsubscribed"
    assert client.post(f"/unsubscribe/{token}/resubscribe").status_code == 200
    with app.app_context():
        assert db.session.get(Subscription, sub_id).status == "confirmed"


def make_staff(role: str) -> str:
    """Create a staff member; return their session id."""
    user = StaffUser(email=f"{role}@courier.example", name=role, role=role,
                     password_hash="not-a-real-hash", language="en")
    db.session.add(user)
    db.session.commit()
    return user.get_id()


def sign_in(client, user: str) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = user
        session["_fresh"] = True


def failed_rows(app, n: int = 2) -> list[int]:
    with app.app_context():
        rows = notify("test_message",
                      [Recipient("sms", "+8613800138000", "en"),
                       Recipient("email", "jane.doe@example.com", "en")][:n],
                      {"title": "T", "body": "B"}, "ev:failed")
        for row in rows:
            row.status, row.attempts, row.last_error, row.error_code = (
                "failed", 8, "invalid number", "21211")
        db.session.commit()
        return [r.id for r in rows]


@pytest.mark.parametrize("role,status", [("supervisor", 200), ("commander", 200),
                                         ("admin", 200), ("agent", 403), ("responder", 403)])
def test_failed_page_permissions(app, client, role, status):
    with app.app_context():
        user = make_staff(role)
    sign_in(client, user)
    assert client.get("/staff/notifications/failed").status_code == status


def test_failed_page_requires_sign_in(client):
    response = client.get("/staff/notifications/failed")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_failed_page_masks_recipients_and_retry_requeues(app, client):
    ids = failed_rows(app)
    with app.app_context():
        user = make_staff("supervisor")
    sign_in(client, user)
    page = client.get("/staff/notifications/failed").get_data(as_text=True)
    assert "+8613800138000" not in page and "*********8000" in page
    assert "jane.doe@example.com" not in page and "j***@example.com" in page
    assert "invalid number" in page and "21211" in page and "test_message" in page
    assert page.count('name="ids"') == 3  # one per row and "retry all shown"
    response = client.post("/staff/notifications/failed/retry", data={"ids": str(ids[0])})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(OutboxMessage, ids[0]).status == "pending"
        assert db.session.get(OutboxMessage, ids[1]).status == "failed"
        from portal.staff.models import AuditEntry

        entry = db.session.scalars(select(AuditEntry)).one()
        assert entry.action == "notifications.retry" and entry.target_id == str(ids[0])
    client.post("/staff/notifications/failed/retry", data={"ids": f"{ids[0]},{ids[1]}"})
    with app.app_context():
        assert {db.session.get(OutboxMessage, i).status for i in ids} == {"pending"}


def test_commander_sees_but_cannot_retry(app, client):
    ids = failed_rows(app, 1)
    with app.app_context():
        user = make_staff("commander")
    sign_in(client, user)
    page = client.get("/staff/notifications/failed").get_data(as_text=True)
    assert 'name="ids"' not in page
    assert client.post("/staff/notifications/failed/retry",
                       data={"ids": str(ids[0])}).status_code == 403
    with app.app_context():
        assert db.session.get(OutboxMessage, ids[0]).status == "failed"


def test_retry_form_is_csrf_protected(app, make_app):
    csrf_app = make_app(WTF_CSRF_ENABLED=True)
    ids = failed_rows(csrf_app, 1)
    with csrf_app.app_context():
        user = make_staff("admin")
    client = csrf_app.test_client()
    sign_in(client, user)
    assert client.post("/staff/notifications/failed/retry",
                       data={"ids": str(ids[0])}).status_code == 400
    page = client.get("/staff/notifications/failed").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post("/staff/notifications/failed/retry",
                       data={"ids": str(ids[0]), "csrf_token": token}).status_code == 302
    with csrf_app.app_context():
        assert db.session.get(OutboxMessage, ids[0]).status == "pending"
