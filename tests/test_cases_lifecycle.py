"""The life of a case: states, reopen window, decision steps, legal clock, rating, staff
pages; policy versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.cases import clock, lifecycle, policy_admin
from portal.cases.models import Case
from portal.extensions import db
from portal.staff.models import StaffUser
from tests.test_cases_support import file_claim, get_case, outbox, tracking


def _load(reference):
    return db.session.scalar(select(Case).where(Case.reference == reference))


@pytest.fixture
def agent(app, staff_factory):
    staff_id = staff_factory("supervisor", "sup@example.com")
    return staff_id


def test_new_case_has_clock_policy_suggestion_and_history(client, app):
    ref = file_claim(client, freight="23.50")
    case = get_case(app, ref)
    assert (case.kind, case.type, case.state, case.source) == ("claim", "delay", "new", "web")
    assert case.legal_clock == "complaint_7d"
    assert case.legal_due_at - case.created_at <= timedelta(days=8)
    assert case.policy_version_id is not None
    assert case.suggested_fen == 2350 and case.decision == "suggested"
    assert [d.step for d in case.decisions] == ["suggested"]
    assert case.decisions[0].detail["formula"] == "freight_refund"
    assert case.events[0].action == "created"  # (the queues feature adds "routed" after)
    assert case.phone_tail_digest and "8000" not in case.phone_tail_digest


def test_legal_clock_is_calendar_days_in_local_time():
    # filed 14 Feb 2026 23:30 Shanghai (Spring Festival week): due 21 Feb 23:59:59 local
    start = datetime(2026, 2, 14, 15, 30, tzinfo=UTC)
    due = clock.due_at(start, 7)
    assert due == datetime(2026, 2, 21, 15, 59, 59, tzinfo=UTC)
    config = {"CASES_COMPLAINT_DAYS": 7, "CASES_POSTAL_FORWARD_DAYS": 15,
              "CASES_LEGAL_CLOCK_KINDS": ["claim", "complaint"]}
    assert clock.clock_for("complaint", "web", start, config).days == 7
    forwarded = clock.clock_for("enquiry", "postal_12305", start, config)
    assert (forwarded.name, forwarded.days) == ("postal_12305_15d", 15)
    assert forwarded.due_at == datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)
    assert clock.clock_for("enquiry", "web", start, config) is None
    config["CASES_COMPLAINT_DAYS"] = 3
    assert clock.clock_for("claim", "web", start, config).due_at.day == 17
    assert clock.days_left(due, start) == 7
    assert clock.days_left(due, start + timedelta(days=9)) == -2


def test_postal_forward_created_by_staff_runs_15_days(app_ctx, agent):
    from portal.cases.services import Submission, create_case

    actor = db.session.get(StaffUser, agent)
    case = create_case(Submission(kind="complaint", type="complaint_attitude",
                                  customer_name="Wang", phone_e164="+8613800138000",
                                  description="Forwarded by 12305", submission_token="fwd-1",
                                  source="postal_12305"), actor=actor)
    db.session.commit()
    assert case.legal_clock == "postal_12305_15d"
    assert 14 <= (case.legal_due_at - case.created_at).days <= 15


def test_offer_accept_pay_resolve_close_rate(client, app, agent):
    ref = file_claim(client, type="loss", claimed="500", freight="20")
    with app.app_context():
        case, actor = _load(ref), db.session.get(StaffUser, agent)
        lifecycle.staff_reply(case, "We are looking into it.", actor)
        assert case.state == "open" and case.answered_at is not None
        lifecycle.offer(case, 14000, actor, "7 x freight, policy")
        db.session.commit()
        assert (case.state, case.decision, case.offered_fen) == ("waiting_customer", "offered",
                                                                 14000)
        lifecycle.answer_offer(case, True)
        with pytest.raises(lifecycle.CaseError):
            lifecycle.answer_offer(case, True)  # nothing left to answer
        lifecycle.record_payment(case, actor, paid_on=datetime.now(UTC), method="alipay",
                                 reference="PAY-1")
        db.session.commit()
        assert case.state == "resolved" and case.paid_at is not None
        with pytest.raises(lifecycle.CaseError):
            lifecycle.rate(case, 5)  # not closed yet
        lifecycle.change_state(case, "closed", actor=actor, reason="done")
        lifecycle.rate(case, 4, "Quick")
        db.session.commit()
        steps = [(d.step, d.amount_fen, d.actor_label) for d in case.decisions]
    assert steps == [("suggested", 14000, "policy"), ("offered", 14000, "sup@example.com"),
                     ("accepted", 14000, "customer"), ("paid", 14000, "sup@example.com")]
    assert get_case(app, ref).rating.score == 4
    templates = [r.template for r in outbox(app)]
    assert templates.count("case_update") >= 3 and "case_rating" in templates


def test_decline_needs_a_reason_and_reopens_work(client, app, agent):
    ref = file_claim(client, tracking_number=tracking())
    with app.app_context():
        case, actor = _load(ref), db.session.get(StaffUser, agent)
        lifecycle.offer(case, 1000, actor, "freight")
        with pytest.raises(lifecycle.CaseError) as error:
            lifecycle.answer_offer(case, False, "  ")
        assert error.value.code == "reason_required"
        lifecycle.answer_offer(case, False, "Too little")
        assert (case.decision, case.state) == ("declined", "open")
        with pytest.raises(lifecycle.CaseError):
            lifecycle.record_payment(case, actor, paid_on=datetime.now(UTC), method="x",
                                     reference="y")
        with pytest.raises(lifecycle.CaseError):
            lifecycle.offer(case, -5, actor, "bad")
        db.session.commit()


def test_reopen_within_window_and_closed_after(client, app, agent):
    ref = file_claim(client, tracking_number=tracking())
    with app.app_context():
        case, actor = _load(ref), db.session.get(StaffUser, agent)
        lifecycle.change_state(case, "resolved", actor=actor, reason="answered")
        lifecycle.customer_message(case, "It is still broken.")
        assert (case.state, case.reopened_count) == ("open", 1)
        lifecycle.change_state(case, "resolved", actor=actor)
        later = case.resolved_at + timedelta(days=15)
        with pytest.raises(lifecycle.CaseError):
            lifecycle.customer_message(case, "Hello?", now=later)
        assert lifecycle.close_resolved(now=later) == [ref]
        assert case.state == "closed"
        with pytest.raises(lifecycle.CaseError):
            lifecycle.change_state(case, "open", actor=actor)
        db.session.commit()
    assert "case_rating" in [r.template for r in outbox(app)]


def test_staff_pages_and_permissions(client, app, login_as):
    ref = file_claim(client, tracking_number=tracking())
    staff = app.test_client()
    assert staff.get(f"/staff/claims/{ref}").status_code == 302  # sign-in first
    login_as(staff, "responder", "resp@example.com")
    assert staff.get(f"/staff/claims/{ref}").status_code == 403
    agent_client = app.test_client()
    login_as(agent_client, "agent", "agent@example.com")
    page = agent_client.get(f"/staff/claims/{ref}")
    assert page.status_code == 200 and ref in page.get_data(as_text=True)
    assert "+8613800138000" not in page.get_data(as_text=True)  # masked
    response = agent_client.post(f"/staff/claims/{ref}/reply",
                                 data={"body": "Internal only", "internal": "y"})
    assert response.status_code == 303
    response = agent_client.post(f"/staff/claims/{ref}/offer",
                                 data={"amount": "23.50", "reason": "freight refund"})
    assert response.status_code == 303
    # paying is for supervisors
    assert agent_client.post(f"/staff/claims/{ref}/pay", data={}).status_code == 403
    assert "Internal only" not in client.get(f"/claims/{ref}").get_data(as_text=True)
    assert agent_client.get("/staff/claims/policy").status_code == 200
    assert agent_client.post("/staff/claims/policy", data={}).status_code == 403


def test_policy_versions_notice_period_and_cases_keep_their_version(client, app, login_as):
    ref_old = file_claim(client, tracking_number=tracking(), freight="20")
    with app.app_context():
        rules = policy_admin.rule_inputs_of(None)
        rules = [r if r.claim_type != "delay" else policy_admin.RuleInput(
            "delay", r.insured, "*", "flat", cap_fen=5000) for r in rules]
        soon = policy_admin.create_version("too soon", datetime.now(UTC) + timedelta(days=3),
                                           rules)
        with pytest.raises(policy_admin.PolicyError) as error:
            policy_admin.publish_version(soon)
        assert error.value.code == "too_soon"
        measure = policy_admin.create_version("typhoon measure", datetime.now(UTC), rules,
                                              force_majeure=True)
        policy_admin.publish_version(measure)
        ahead = policy_admin.create_version("next year", datetime.now(UTC) + timedelta(days=11),
                                            rules)
        policy_admin.publish_version(ahead)
        db.session.commit()
        assert policy_admin.version_in_force().name == "typhoon measure"
        assert [v.name for v in policy_admin.upcoming_versions()] == ["next year"]
        old = _load(ref_old)
        from portal.cases.services import suggest

        suggest(old)  # recomputed under the case's own (older) version
        assert old.suggested_fen == 2000
        db.session.commit()
    ref_new = file_claim(client, tracking_number=tracking(), freight="20")
    assert get_case(app, ref_new).suggested_fen == 5000
    public = client.get("/claims/policy?lang=en").get_data(as_text=True)
    assert "Fixed amount" in public and "A new policy takes effect" in public


def test_admin_publishes_a_version_through_the_page(app, login_as):
    admin = app.test_client()
    login_as(admin, "admin", "admin@example.com")
    page = admin.get("/staff/claims/policy").get_data(as_text=True)
    assert "delay, no, *, freight_refund" in page
    effective = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    rules = "delay, no, *, flat, -, 15, -, -\nloss, no, *, actual_value_capped, 5, 300, 1000, -"
    refused = admin.post("/staff/claims/policy", data={
        "name": "v2", "effective_on": effective, "rules": rules})
    assert refused.status_code == 422
    today = datetime.now(UTC).date().isoformat()
    forced = admin.post("/staff/claims/policy", data={
        "name": "v2", "effective_on": today, "rules": rules, "force_majeure": "y"})
    assert forced.status_code == 303
    bad = admin.post("/staff/claims/policy", data={
        "name": "v3", "effective_on": effective, "rules": "delay, maybe", "force_majeure": "y"})
    assert bad.status_code == 422
    with app.app_context():
        assert policy_admin.version_in_force().name == "v2"
        assert {r.claim_type for r in policy_admin.rules_of(policy_admin.version_in_force())} == {
            "delay", "loss"}


def test_demo_seeder_adds_policy_and_cases_once(app):
    from portal.cases.demo import seed_demo_cases

    with app.app_context():
        first = seed_demo_cases()
        db.session.commit()
        second = seed_demo_cases()
        db.session.commit()
        assert policy_admin.version_in_force() is not None
        assert db.session.query(Case).count() == 2
    assert "demo cases CS-" in first and "already present" in second
