"""The agent workspace over HTTP: queue pages (filters, keyset pagination, capped counts),
take next, the case page (masked details, logged reveal, replies reaching the customer,
internal notes), staff-created cases, search, merge, bulk actions, the standing offer,
approval limits per role, reports and CSV, settings pages, bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.queues.models import CaseMerge, CaseWork
from portal.staff.models import AuditEntry, StaffUser
from tests.test_queues_support import at, incident, new_case, parcel, queue, tracking, work_of


def _user(email: str) -> StaffUser:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == email))


@pytest.fixture
def desk(app, client, login_as):
    """An agent signed in, member of the fallback queue "general" with 30 cases."""
    login_as(client, "agent", "agent@example.com")
    with app.app_context():
        agent = _user("agent@example.com")
        queue("general", fallback=True, members=[agent])
        queue("complaints")
        first = at("2026-03-09 09:00")
        refs = [new_case(now=first + timedelta(minutes=i), phone=f"+86139000000{i:02d}",
                         email=f"c{i}@example.com").reference for i in range(30)]
        db.session.commit()
    return {"client": client, "refs": refs}


def test_queue_page_pagination_filters_and_count(desk, app):
    client, refs = desk["client"], desk["refs"]
    page = client.get("/staff/queues/general").get_data(as_text=True)
    assert "(30)" in page
    shown = re.findall(r"/staff/cases/(CS-[A-Z0-9-]+)\"", page)
    assert shown == refs[:25]
    following = re.search(r'href="([^"]*after=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = re.findall(r"/staff/cases/(CS-[A-Z0-9-]+)\"",
                      client.get(following).get_data(as_text=True))
    assert rest == refs[25:]
    app.config["QUEUES_COUNT_CAP"] = 10
    assert "(10+)" in client.get("/staff/queues/general").get_data(as_text=True)
    for bad in ("?after=garbage", "?priority=9", "?state=nope&due=x&incident=abc",
                "?after=1.99999999999999999.1", "?tag=" + "x" * 500):
        assert client.get("/staff/queues/general" + bad).status_code == 200
    assert client.get("/staff/queues/nope").status_code == 404
    assert "Nothing here" in client.get("/staff/queues/general?due=breached&state=closed")\
        .get_data(as_text=True)


def test_filters_by_priority_tag_and_incident(app, desk):
    client = desk["client"]
    with app.app_context():
        flood = incident("INC-F1")
        number = tracking()
        parcel(number, flood)
        db.session.commit()
        lawyer = new_case(text="my lawyer", tracking_number=number).reference
        flood_id = flood.id
    assert re.findall(r"/staff/cases/(CS-[A-Z0-9-]+)\"", client.get(
        "/staff/queues/general?priority=2").get_data(as_text=True)) == [lawyer]
    assert lawyer in client.get("/staff/queues/general?tag=lawyer").get_data(as_text=True)
    page = client.get(f"/staff/queues/general?incident={flood_id}").get_data(as_text=True)
    assert re.findall(r"/staff/cases/(CS-[A-Z0-9-]+)\"", page) == [lawyer]


def test_take_next_reply_reaches_the_customer_and_resolve(desk, app):
    from portal.cases.access import status_path, status_token
    from portal.cases.services import by_reference
    from tests.test_cases_support import outbox

    client, first = desk["client"], desk["refs"][0]
    response = client.post("/staff/queues/general/next")
    assert response.status_code == 303 and response.headers["Location"].endswith(first)
    page = client.get(f"/staff/cases/{first}").get_data(as_text=True)
    assert "+8613900000000" not in page and "*******0000" in page
    assert "Legal clock" in page and "First response (SLA)" in page
    assert client.post(f"/staff/cases/{first}/reply", data={
        "body": "We have refunded the freight."}).status_code == 303
    assert client.post(f"/staff/cases/{first}/reply", data={
        "body": "Customer sounded upset", "internal": "y"}).status_code == 303
    assert client.post(f"/staff/cases/{first}/state", data={"state": "resolved"}).status_code \
        == 303
    rows = outbox(app, "case_update")
    kinds = sorted(r.event_key.split(":")[2] for r in rows if r.channel == "email")
    assert kinds == ["reply", "resolved"]  # the note sends nothing
    assert {r.recipient for r in rows} >= {"c0@example.com", "+8613900000000"}
    assert not any("sounded upset" in (r.body_text or "") for r in rows)
    with app.app_context():
        case = by_reference(first)
        link = status_path(case) + "?t=" + status_token(case)
        assert work_of(case).first_responded_at is not None and not work_of(case).is_open
    customer = app.test_client()
    assert customer.get(link).status_code == 303
    status = customer.get(status_path(case)).get_data(as_text=True)
    assert "We have refunded the freight." in status and "sounded upset" not in status


def test_reveal_is_logged(desk, app):
    client, ref = desk["client"], desk["refs"][3]
    assert client.post(f"/staff/cases/{ref}/reveal", data={"reason": ""}).status_code == 422
    page = client.post(f"/staff/cases/{ref}/reveal", data={"reason": "calling back"})
    assert "+8613900000003" in page.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(
            AuditEntry.action == "queue.customer_revealed"))
        assert entry.target_id == ref and entry.detail["reason"] == "calling back"
    assert "+8613900000003" not in client.get(f"/staff/cases/{ref}").get_data(as_text=True)


@pytest.mark.parametrize("source,days", [("phone", 7), ("postal_12305", 15)])
def test_staff_created_cases_are_routed(desk, app, source, days):
    from portal.cases.services import by_reference
    from tests.test_queues_support import rule

    with app.app_context():
        rule("Forwards", {"keywords": ["12305"]}, {"queue": "complaints"})
        db.session.commit()
    client = desk["client"]
    bad = client.post("/staff/cases/new", data={"source": source, "kind": "complaint",
                                                "type": "complaint_attitude",
                                                "customer_name": "王芳", "phone": "12",
                                                "description": "x", "language": "zh_Hans"})
    assert bad.status_code == 422
    response = client.post("/staff/cases/new", data={
        "source": source, "kind": "complaint", "type": "complaint_attitude",
        "customer_name": "王芳", "phone": "13912345678", "language": "zh_Hans",
        "description": "12305 转来的投诉：快递员态度恶劣" if days == 15 else "电话投诉"})
    assert response.status_code == 303
    ref = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        case = by_reference(ref)
        assert case.source == source
        assert (case.legal_due_at - case.created_at) > timedelta(days=days - 1)
        assert (case.legal_due_at - case.created_at) <= timedelta(days=days + 1)
        work = work_of(case)
        assert work.queue.slug == ("complaints" if days == 15 else "general")
        if days == 15:
            assert work.priority == 1  # 12305 is an escalation signal


def test_search(desk, app):
    client, refs = desk["client"], desk["refs"]
    assert client.get(f"/staff/search?q={refs[2].lower()}").status_code == 303
    with app.app_context():
        from portal.cases.services import by_reference

        number = by_reference(refs[4]).tracking_number
    assert refs[4] in client.get(f"/staff/search?q={number.lower()}").get_data(as_text=True)
    assert refs[5] in client.get("/staff/search?q=139 0000 0005").get_data(as_text=True)
    assert refs[6] in client.get("/staff/search?q=C6@example.com").get_data(as_text=True)
    for junk in ("", "%", "x" * 2000, "+++", "a@"):
        assert client.get("/staff/search", query_string={"q": junk}).status_code == 200


def test_merge_duplicates(desk, app):
    client, refs = desk["client"], desk["refs"]
    assert client.post(f"/staff/cases/{refs[0]}/merge", data={"target": refs[0]}).status_code \
        == 409
    assert client.post(f"/staff/cases/{refs[0]}/merge", data={"target": "CS-XXXX-XXXX"}) \
        .status_code == 422
    assert client.post(f"/staff/cases/{refs[1]}/merge", data={"target": refs[0],
                                                              "reason": "same parcel"}) \
        .status_code == 303
    with app.app_context():
        from portal.cases.services import by_reference

        source, target = by_reference(refs[1]), by_reference(refs[0])
        assert source.state == "closed" and source.merged_into_id == target.id
        notes = [m for m in target.messages if m.kind == "internal_note"]
        assert notes and refs[1] in notes[0].body and not notes[0].public
        assert db.session.scalar(select(CaseMerge)).reason == "same parcel"
        assert not work_of(source).is_open


def test_bulk_assign_and_state_need_a_supervisor(desk, app, login_as):
    client, refs = desk["client"], desk["refs"]
    assert client.post("/staff/queues/general/bulk", data={"case": refs[:2]}).status_code == 403
    boss = app.test_client()
    login_as(boss, "supervisor", "boss@example.com")
    with app.app_context():
        agent_id = _user("agent@example.com").id
    assert boss.post("/staff/queues/general/bulk", data={
        "case": refs[:3], "action": "assign", "assignee": str(agent_id)}).status_code == 303
    assert boss.post("/staff/queues/general/bulk", data={
        "case": refs[3:5], "action": "state", "state": "closed"}).status_code == 303
    with app.app_context():
        works = {w.case.reference: w for w in db.session.scalars(select(CaseWork))}
        assert all(works[r].assignee_id == agent_id for r in refs[:3])
        assert all(works[r].state == "closed" for r in refs[3:5])
    assert boss.post("/staff/queues/general/bulk", data={}).status_code == 303


def test_standing_offer_applies_to_all_delay_claims(app, client, login_as):
    login_as(client, "supervisor", "boss@example.com")
    with app.app_context():
        queue("general", fallback=True)
        flood = incident("INC-OFFER", {"claim_types": ["delay"], "formula": "freight_refund"})
        refs = []
        for kind, kind_type in (("claim", "delay"), ("claim", "delay"), ("claim", "loss")):
            number = tracking()
            parcel(number, flood)
            refs.append(new_case(kind=kind, type=kind_type, tracking_number=number,
                                 amount_fen=5000, freight_fen=2350).reference)
        db.session.commit()
    assert client.post("/staff/queues/general/standing-offer", data={
        "incident": "inc-offer"}).status_code == 303
    assert client.post("/staff/queues/general/standing-offer", data={
        "incident": "nope"}).status_code == 303
    with app.app_context():
        from portal.cases.services import by_reference

        cases = [by_reference(r) for r in refs]
        assert [c.decision for c in cases[:2]] == ["offered", "offered"]
        assert all(c.offered_fen == 2350 for c in cases[:2])
        assert cases[2].decision != "offered"


@pytest.mark.parametrize("role,amount,allowed", [
    ("agent", "500", True), ("agent", "500.01", False), ("supervisor", "5000", True),
    ("supervisor", "6000", False), ("commander", "60000", True), ("admin", "60000", True),
])
def test_approval_limits_per_role(app, client, login_as, role, amount, allowed):
    login_as(client, role, f"{role}@example.com")
    with app.app_context():
        queue("general", fallback=True)
        ref = new_case(type="loss", amount_fen=10_000_000).reference
    response = client.post(f"/staff/cases/{ref}/approve", data={"amount": amount,
                                                                 "reason": "receipt seen"})
    assert response.status_code == (303 if allowed else 403)
    with app.app_context():
        action = "queue.approved" if allowed else "queue.approval_refused"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == action))
        assert entry.actor_label == f"{role}@example.com" and entry.detail["role"] == role
        if allowed:
            from portal.cases.services import by_reference
            from portal.queues.models import CaseApproval

            case = by_reference(ref)
            assert case.decision == "offered"
            approval = db.session.scalar(select(CaseApproval))
            assert approval.reason == "receipt seen" and approval.role == role
    assert client.post(f"/staff/cases/{ref}/approve", data={"amount": "abc",
                                                             "reason": "x"}).status_code == 422


def test_reports_and_csv(desk, app, login_as):
    boss = app.test_client()
    login_as(boss, "supervisor", "boss@example.com")
    page = boss.get("/staff/reports/sla?lang=en")
    assert page.status_code == 200 and "Agent load" in page.get_data(as_text=True)
    csv_text = boss.get("/staff/reports/sla?format=csv&days=abc").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("queue,open,unassigned,at_risk,breached")
    assert "general,30," in csv_text
    cases = boss.get("/staff/reports/cases.csv?queue=general").get_data(as_text=True)
    assert len(cases.splitlines()) == 31 and desk["refs"][0] in cases
    assert desk["client"].get("/staff/reports/sla").status_code == 403  # agents


def test_settings_pages(app, client, login_as):
    login_as(client, "supervisor", "boss@example.com")
    assert client.get("/staff/queues/settings").status_code == 200
    assert client.post("/staff/queues/settings/queue", data={
        "slug": "vip", "name_en": "VIP", "strategy": "least_loaded",
        "members": "boss@example.com, ghost@example.com"}).status_code == 422
    assert client.post("/staff/queues/settings/queue", data={
        "slug": "settings", "name_en": "X", "strategy": "manual"}).status_code == 422
    assert client.post("/staff/queues/settings/queue", data={
        "slug": "vip", "name_en": "VIP", "strategy": "least_loaded", "is_fallback": "y",
        "members": "boss@example.com"}).status_code == 303
    assert client.post("/staff/routing/rules/new", data={
        "name": "High value", "position": "1", "enabled": "y", "amount_min": "2,000",
        "queue": "vip", "priority": "2", "tags": "vip"}).status_code == 303
    assert client.post("/staff/routing/rules/new", data={
        "name": "Bad", "position": "1", "amount_min": "lots", "queue": "vip",
        "priority": "2"}).status_code == 422
    assert client.post("/staff/queues/settings/canned", data={
        "slug": "refund", "title": "Refund",
        "body_zh_hans": "{name}您好，案件{reference}已退款。",
        "body_en": "Dear {name}, case {reference} is refunded."}).status_code == 303
    assert client.post("/staff/queues/settings/sla", data={
        "queue": "vip", "priority": "2", "first_response_minutes": "30",
        "resolution_minutes": "240", "at_risk_percent": "75", "notify_lead": "y"}) \
        .status_code == 303
    assert client.post("/staff/queues/settings/keywords", data={
        "language": "en", "keyword": "ombudsman", "tag": "regulator", "priority": "1"}) \
        .status_code == 303
    with app.app_context():
        case = new_case(type="loss", amount_fen=320000, language="en")
        work = work_of(case)
        assert work.queue.slug == "vip" and work.priority == 2
        assert work.first_response_minutes == 30
        ref = case.reference
    page = client.get(f"/staff/cases/{ref}?canned=refund").get_data(as_text=True)
    assert f"Dear Li Lei, case {ref} is refunded." in page
    assert "rule &#39;High value&#39; matched: amount 3,200 &gt; 2,000" in page
    assert client.get("/staff/routing/rules/999").status_code == 404


def test_permissions(app, client, login_as):
    login_as(client, "responder")
    assert client.get("/staff/queues").status_code == 403
    assert client.get("/staff/search").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/staff/queues").status_code == 302
