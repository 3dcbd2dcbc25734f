"""Incident lifecycle through the staff pages: who may do what, what gets published, who
is notified (drafts and drills: nobody), corrections, withdrawals, notes and templates."""

from __future__ import annotations

import pytest
from test_incidents_support import (
    declare,
    get_incident,
    outbox,
    outbox_count,
    subscribe_confirmed,
)
from test_staff_support import ROLES, audit_rows, login, make_staff


@pytest.fixture(autouse=True)
def _staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    for role in ROLES:
        make_staff(app, role)


def _as(app, role):
    client = app.test_client()
    assert login(client, f"{role}@example.com").status_code == 302
    return client


NEW_INCIDENT = {
    "title_zh_hans": "暴雨导致武汉分拨中心停工", "title_en": "Rainstorm stops the Wuhan hub",
    "summary_zh_hans": "暴雨导致停工，预计恢复时间为明天中午。",
    "summary_en": "A rainstorm stopped the hub; recovery expected tomorrow noon.",
    "type": "weather", "severity": "critical", "regions": "湖北省武汉市 | Wuhan, Hubei",
    "hubs": "武汉分拨中心 | Wuhan hub", "services": "", "commander_id": "0",
}


@pytest.mark.parametrize("role", ROLES)
def test_declare_is_for_commanders_and_admins(app, role):
    response = _as(app, role).post("/staff/incidents/new", data=NEW_INCIDENT)
    if role in ("admin", "commander"):
        assert response.status_code == 302
        ref = response.headers["Location"].rsplit("/", 1)[-1]
        incident = get_incident(app, ref)
        assert incident.visibility == "draft"
        assert incident.title["zh_Hant"] == "暴雨導致武漢分撥中心停工"  # OpenCC fallback
        assert "zh_Hant" in incident.title["auto"]
        assert {a.code for a in incident.areas} == {"湖北省武汉市", "武汉分拨中心"}
        assert len(audit_rows(app, "incident.declared")) == 1
    else:
        assert response.status_code == 403
        assert audit_rows(app, "incident.declared") == []


@pytest.mark.parametrize("role", ROLES)
def test_responders_draft_and_only_commanders_publish(app, role):
    ref = declare(app, publish=True)
    client = _as(app, role)
    drafted = client.post(f"/staff/incidents/{ref}/updates/new", data={
        "state": "identified", "body_zh_hans": "已查明原因。", "body_en": "Cause found.",
        "notify": "y"})
    may_draft = role in ("admin", "commander", "responder")
    assert drafted.status_code == (302 if may_draft else 403)
    if not may_draft:
        return
    update = next(u for u in get_incident(app, ref).updates if u.status == "draft")
    published = client.post(f"/staff/incidents/{ref}/updates/{update.id}/publish")
    may_publish = role in ("admin", "commander")
    assert published.status_code == (302 if may_publish else 403)
    incident = get_incident(app, ref)
    assert incident.state == ("identified" if may_publish else "investigating")
    page = app.test_client().get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert ("Cause found." in page) is may_publish


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_dashboard_and_the_detail(app, role):
    ref = declare(app)
    client = _as(app, role)
    assert client.get("/staff/incidents/").status_code == 200
    assert client.get(f"/staff/incidents/{ref}").status_code == 200


def test_anonymous_is_sent_to_login(client):
    response = client.get("/staff/incidents/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_publishing_notifies_incident_and_region_subscribers_once(app):
    ref = declare(app)
    subscribe_confirmed(app, "follower@example.com", ref)
    subscribe_confirmed(app, "+8613800138000", ref, channel="sms", language="zh_Hans")
    subscribe_confirmed(app, "region@example.com", "广东省深圳市", topic_type="region")
    subscribe_confirmed(app, "follower@example.com", "广东省深圳市", topic_type="region")
    subscribe_confirmed(app, "other@example.com", "IN-AAAA-BBBB")
    client = _as(app, "commander")
    page = client.get(f"/staff/incidents/{ref}?lang=en").get_data(as_text=True)
    assert "Will reach: 2 by email, 1 by SMS." in page
    assert outbox_count(app) == 0
    assert client.post(f"/staff/incidents/{ref}/publish", data={"notify": "y"}).status_code == 302
    rows = outbox(app, "incident_published")
    assert sorted((r.channel, r.recipient) for r in rows) == [
        ("email", "follower@example.com"), ("email", "region@example.com"),
        ("sms", "+8613800138000")]
    email = next(r for r in rows if r.recipient == "follower@example.com")
    assert ref in email.subject and "Typhoon" in email.subject
    assert f"/incidents/{ref}?lang=en" in email.body_text
    sms = next(r for r in rows if r.channel == "sms")
    assert "台风" in sms.body_text


def test_drafts_notify_nobody(app):
    ref = declare(app)
    subscribe_confirmed(app, "follower@example.com", ref)
    client = _as(app, "commander")
    client.post(f"/staff/incidents/{ref}/updates/new", data={
        "state": "identified", "body_zh_hans": "草稿", "notify": "y"})
    client.post(f"/staff/incidents/{ref}/edit", data={**NEW_INCIDENT, "started_at": ""})
    assert outbox_count(app) == 0
    assert app.test_client().get(f"/incidents/{ref}").status_code == 404


def test_drills_are_never_public_and_notify_nobody(app):
    ref = declare(app, drill=True)
    subscribe_confirmed(app, "follower@example.com", ref)
    client = _as(app, "commander")
    response = client.post(f"/staff/incidents/{ref}/publish", data={"notify": "y"})
    assert response.status_code == 302
    assert get_incident(app, ref).visibility == "drill"
    update = get_incident(app, ref).updates[0]
    client.post(f"/staff/incidents/{ref}/updates/{update.id}/publish")
    client.post(f"/staff/incidents/{ref}/resolve", data={"notify": "y"})
    incident = get_incident(app, ref)
    assert incident.state == "resolved"  # the drill runs through the whole lifecycle
    assert outbox_count(app) == 0
    public = app.test_client()
    assert public.get(f"/incidents/{ref}").status_code == 404
    assert ref not in public.get("/").get_data(as_text=True)
    assert public.get(f"/api/v1/incidents/{ref}").status_code == 404


def test_updates_email_subscribers_only_when_marked_notify(app):
    ref = declare(app, publish=True)
    subscribe_confirmed(app, "follower@example.com", ref)
    subscribe_confirmed(app, "+8613800138000", ref, channel="sms")
    client = _as(app, "commander")
    for notify in ("y", ""):
        client.post(f"/staff/incidents/{ref}/updates/new", data={
            "state": "identified", "body_zh_hans": f"更新{notify}", "notify": notify})
        draft = next(u for u in get_incident(app, ref).updates if u.status == "draft")
        client.post(f"/staff/incidents/{ref}/updates/{draft.id}/publish")
    rows = outbox(app, "incident_update")
    assert [(r.channel, r.recipient) for r in rows] == [("email", "follower@example.com")]


def test_resolving_notifies_every_channel(app):
    ref = declare(app, publish=True)
    subscribe_confirmed(app, "follower@example.com", ref)
    subscribe_confirmed(app, "+8613800138000", ref, channel="sms")
    response = _as(app, "commander").post(f"/staff/incidents/{ref}/resolve",
                                          data={"notify": "y"})
    assert response.status_code == 302
    incident = get_incident(app, ref)
    assert incident.state == "resolved" and incident.resolved_at is not None
    assert incident.updates[-1].body["en"] == "This incident has been resolved."
    assert sorted(r.channel for r in outbox(app, "incident_resolved")) == ["email", "sms"]
    # Resolving twice is refused and sends nothing more.
    _as(app, "commander").post(f"/staff/incidents/{ref}/resolve", data={"notify": "y"})
    assert len(outbox(app, "incident_resolved")) == 2


def test_correction_shows_on_the_page_and_audit_keeps_the_original(app):
    ref = declare(app, publish=True, first_update={
        "zh_Hans": "预计周二恢复。", "zh_Hant": "", "en": "Expected back on Tuesday.",
        "auto": []})
    update = get_incident(app, ref).updates[0]
    client = _as(app, "commander")
    response = client.post(f"/staff/incidents/{ref}/updates/{update.id}/correct", data={
        "state": "investigating", "body_zh_hans": "预计周三恢复。",
        "body_en": "Expected back on Wednesday.", "reason_zh_hans": "日期有误。",
        "reason_en": "The day was wrong."})
    assert response.status_code == 302
    page = app.test_client().get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert "Expected back on Wednesday." in page and "Tuesday" not in page
    assert "Corrected on" in page and "The day was wrong." in page
    entry = audit_rows(app, "incident_update.corrected")[0]
    assert entry.detail["original"]["en"] == "Expected back on Tuesday."


def test_withdrawal_hides_the_text_and_says_so(app):
    ref = declare(app, publish=True, first_update={
        "zh_Hans": "错误的消息", "zh_Hant": "", "en": "A wrong message", "auto": []})
    update = get_incident(app, ref).updates[0]
    assert _as(app, "responder").post(
        f"/staff/incidents/{ref}/updates/{update.id}/withdraw",
        data={"reason_zh_hans": "发错了"}).status_code == 403
    response = _as(app, "commander").post(
        f"/staff/incidents/{ref}/updates/{update.id}/withdraw",
        data={"reason_zh_hans": "发错了", "reason_en": "Posted by mistake."})
    assert response.status_code == 302
    page = app.test_client().get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert "A wrong message" not in page
    assert "This update was withdrawn" in page and "Posted by mistake." in page
    assert audit_rows(app, "incident_update.withdrawn")[0].detail["original"]["en"] == \
        "A wrong message"


def test_internal_notes_never_appear_publicly(app):
    ref = declare(app, publish=True)
    client = _as(app, "responder")
    assert client.post(f"/staff/incidents/{ref}/notes",
                       data={"body": "现场：叉车故障 SECRET-NOTE"}).status_code == 302
    assert "SECRET-NOTE" in client.get(f"/staff/incidents/{ref}").get_data(as_text=True)
    assert _as(app, "agent").post(f"/staff/incidents/{ref}/notes",
                                  data={"body": "x"}).status_code == 403
    public = app.test_client()
    for path in (f"/incidents/{ref}", f"/api/v1/incidents/{ref}",
                 f"/incidents/{ref}/feed.atom", "/feed.atom"):
        assert "SECRET-NOTE" not in public.get(path).get_data(as_text=True)


def test_preview_shows_drafts_to_staff_only(app):
    ref = declare(app, first_update={"zh_Hans": "预览内容", "zh_Hant": "", "en": "Preview me",
                                     "auto": []})
    page = _as(app, "responder").get(f"/staff/incidents/{ref}/preview?lang=en")
    assert page.status_code == 200 and "Preview me" in page.get_data(as_text=True)
    assert app.test_client().get(f"/staff/incidents/{ref}/preview").status_code == 302


def test_new_update_form_starts_from_the_standard_wording(app):
    ref = declare(app, publish=True)
    page = _as(app, "responder").get(f"/staff/incidents/{ref}/updates/new?state=monitoring")
    html = page.get_data(as_text=True)
    assert "A fix has been implemented and we are monitoring the results." in html
    assert "修复措施已实施，我们正在监测效果。" in html
    assert "修復措施已實施，我們正在監測效果。" in html


def test_migration_seeds_real_translations_in_three_languages(tmp_path):
    from conftest import TEST_CONFIG, run_migrations

    from portal import create_app
    from portal.extensions import db
    from portal.incidents.services import templates_by_state

    fresh = create_app({**TEST_CONFIG,
                        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}"})
    run_migrations(fresh)
    with fresh.app_context():
        grouped = templates_by_state()
        assert set(grouped) == {"investigating", "identified", "monitoring", "resolved"}
        for items in grouped.values():
            assert items[0].id is not None  # stored by the migration, not the fallback
            body = items[0].body
            assert body["zh_Hans"] and body["zh_Hant"] and body["en"]
            assert len({body["zh_Hans"], body["zh_Hant"], body["en"]}) == 3
            assert body["auto"] == []
        assert grouped["resolved"][0].body["en"] == "This incident has been resolved."
        assert grouped["resolved"][0].body["zh_Hant"] == "此事件已解決。"
        db.engine.dispose()


def _template_id(app, state: str) -> int:
    from portal.extensions import db
    from portal.incidents.services import default_template, seed_default_templates

    with app.app_context():
        seed_default_templates()
        db.session.commit()
        return default_template(state).id


def test_template_editing_is_for_commanders(app):
    template_id = _template_id(app, "investigating")
    assert _as(app, "responder").post(f"/staff/incidents/templates/{template_id}", data={
        "state": "investigating", "body_zh_hans": "x"}).status_code == 403
    response = _as(app, "commander").post(f"/staff/incidents/templates/{template_id}", data={
        "state": "investigating", "body_zh_hans": "我们正在紧急调查。",
        "body_en": "We are urgently investigating."})
    assert response.status_code == 302
    ref = declare(app)
    assert get_incident(app, ref).updates[0].body["en"] == "We are urgently investigating."


def test_a_rolled_back_publish_leaves_no_outbox_row(app):
    from portal.extensions import db
    from portal.incidents import queries, services
    from portal.staff.models import StaffUser

    ref = declare(app)
    subscribe_confirmed(app, "follower@example.com", ref)
    with app.app_context():
        actor = db.session.query(StaffUser).filter_by(role="commander").one()
        services.publish(actor, queries.find(ref))
        db.session.rollback()
    assert outbox_count(app) == 0
    assert get_incident(app, ref).visibility == "draft"


def test_demo_seeder_creates_public_incidents_in_three_languages_and_a_drill(app):
    from portal.extensions import db
    from portal.incidents.demo import seed_demo_incidents
    from portal.incidents.models import Incident

    with app.app_context():
        summary = seed_demo_incidents()
        db.session.commit()
        incidents = db.session.query(Incident).order_by(Incident.id).all()
        assert [i.visibility for i in incidents] == ["published", "published", "drill"]
        assert [i.state for i in incidents][:2] == ["identified", "resolved"]
        for incident in incidents:
            assert all(incident.title.get(lang) for lang in ("zh_Hans", "zh_Hant", "en"))
        assert seed_demo_incidents() == "Incidents: demo incidents already present"
    assert "Incidents:" in summary
    assert outbox_count(app) == 0  # demo data notifies nobody
    html = app.test_client().get("/?lang=en").get_data(as_text=True)
    assert "Typhoon Haiyan" in html and "Drill" not in html
