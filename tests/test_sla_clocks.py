"""SLA clocks in business hours of the queue's calendar, hand-computed: targets per queue and
priority, weekend, holiday, make-up day, pause while waiting for the customer, reopen; the
legal clock beside them never pauses; at-risk and breached found once and escalated."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.cases import lifecycle
from portal.extensions import db
from portal.queues import calendars, escalation, sla
from portal.queues.admin import save_sla
from portal.queues.models import CaseWork
from tests.test_queues_support import at, new_case, queue, staff, work_of

HOURS = {str(d): [["09:00", "18:00"]] for d in range(5)}


@pytest.fixture
def setup(app_ctx, monkeypatch):
    """Queue "claims" (Mainland calendar, normal priority: 4 h first response, 8 h
    resolution) and a clock the hooks read."""
    calendar = calendars.create_calendar("Mainland", HOURS, years=[2026])
    lead = staff("supervisor", "lead@example.com")
    q = queue("claims", fallback=True, calendar=calendar, lead=lead)
    save_sla(q, 3, 240, 480, 80, ["notify_lead", "raise_priority"], lead)
    db.session.commit()
    clock = {"now": at("2026-03-09 09:00")}
    monkeypatch.setattr(sla, "current_time", lambda: clock["now"])
    return clock


def test_due_times_over_a_weekend_and_the_legal_clock(setup):
    case = new_case(now=at("2026-03-06 16:00"))
    work = work_of(case)
    assert work.first_response_due_at == at("2026-03-09 11:00")
    assert work.resolution_due_at == at("2026-03-09 15:00")
    assert case.legal_due_at == at("2026-03-13 23:59:59")  # 7 calendar days


def test_holiday_and_make_up_day(setup):
    over_holiday = work_of(new_case(now=at("2026-09-30 17:00")))
    assert over_holiday.first_response_due_at == at("2026-10-08 12:00")
    on_make_up_day = work_of(new_case(now=at("2026-10-09 17:00")))
    assert on_make_up_day.first_response_due_at == at("2026-10-10 12:00")


def test_targets_depend_on_queue_and_priority(setup):
    from portal.queues.models import Queue

    q = db.session.scalar(select(Queue))
    save_sla(q, 2, 60, 120, 80, [], None or staff("supervisor"))
    db.session.commit()
    urgentish = new_case(text="my lawyer will call", now=at("2026-03-09 09:00"))
    work = work_of(urgentish)
    assert work.priority == 2
    assert work.first_response_due_at == at("2026-03-09 10:00")
    assert work.resolution_due_at == at("2026-03-09 11:00")
    default = queue("no-policy")  # no policy: the configured defaults (normal 480/2400)
    work.queue_id = default.id
    work.queue = default
    work.priority = 3
    sla.start(work)
    assert work.first_response_due_at == at("2026-03-09 17:00")  # default calendar


def test_pause_while_waiting_for_the_customer(setup):
    agent = staff("agent")
    case = new_case(now=at("2026-03-09 09:00"))
    setup["now"] = at("2026-03-09 13:00")
    lifecycle.staff_reply(case, "Could you send a photo?", agent, wait_for_customer=True,
                          now=setup["now"])
    db.session.commit()
    work = work_of(case)
    assert work.paused_since == at("2026-03-09 13:00")
    assert work.first_responded_at == at("2026-03-09 13:00")
    setup["now"] = at("2026-03-10 10:00")
    lifecycle.customer_message(case, "Here it is", now=setup["now"])
    db.session.commit()
    work = work_of(case)
    assert work.paused_since is None and work.paused_seconds == 6 * 3600
    assert work.resolution_due_at == at("2026-03-10 14:00")
    # the legal clock never moved
    assert case.legal_due_at == at("2026-03-16 23:59:59")
    views = {c.name: c for c in sla.clocks(work, at("2026-03-10 12:00"))}
    assert views["first_response"].state == "met"
    assert views["resolution"].left_seconds == 2 * 3600
    assert views["resolution"].used_percent == 75 and views["resolution"].state == "ok"
    assert {c.name: c.state for c in sla.clocks(work, at("2026-03-10 13:00"))}[
        "resolution"] == "at_risk"


def test_reopen_resumes_the_resolution_clock(setup):
    agent = staff("agent")
    case = new_case(now=at("2026-03-09 09:00"))
    setup["now"] = at("2026-03-09 11:00")
    lifecycle.staff_reply(case, "Refunded.", agent, now=setup["now"])
    lifecycle.change_state(case, "resolved", actor=agent, now=setup["now"])
    db.session.commit()
    work = work_of(case)
    assert work.resolved_at == at("2026-03-09 11:00") and not work.is_open
    assert {c.name: c.state for c in sla.clocks(work)}["resolution"] == "met"
    setup["now"] = at("2026-03-11 09:00")
    lifecycle.customer_message(case, "It was not refunded", now=setup["now"])
    db.session.commit()
    work = work_of(case)
    assert work.is_open and work.resolved_at is None
    assert work.paused_seconds == 16 * 3600
    assert work.resolution_due_at == at("2026-03-11 15:00")


def test_at_risk_and_breach_escalate_exactly_once(setup):
    from portal.notifications.models import OutboxMessage
    from portal.staff.models import AuditEntry

    case = new_case(now=at("2026-03-09 09:00"))
    work = work_of(case)
    assert work.response_risk_at == at("2026-03-09 12:12")  # 80% of 4 h
    assert escalation.check_sla(at("2026-03-09 12:00")) == {
        "response_at_risk": 0, "response_breached": 0, "resolution_at_risk": 0,
        "resolution_breached": 0}
    counts = escalation.check_sla(at("2026-03-09 12:30"))
    db.session.commit()
    assert counts["response_at_risk"] == 1
    assert escalation.check_sla(at("2026-03-09 12:45"))["response_at_risk"] == 0
    counts = escalation.check_sla(at("2026-03-09 13:30"))
    db.session.commit()
    assert counts["response_breached"] == 1
    work = work_of(case)
    assert work.priority == 2 and work.escalated  # raised once
    # the new priority's targets apply; nothing escalates twice
    for moment in ("2026-03-09 13:31", "2026-03-09 14:00", "2026-03-09 14:30"):
        again = escalation.check_sla(at(moment))
        db.session.commit()
        assert again["response_breached"] == 0 and again["response_at_risk"] == 0
    assert work_of(case).priority == 2
    mails = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "queue_escalation")).all()
    assert sorted(m.event_key.rsplit(":", 1)[1] for m in mails) == [
        "response_at_risk", "response_breached"]
    assert all(m.recipient == "lead@example.com" for m in mails)
    actions = [e.action for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.action.startswith("queue.sla_")))]
    assert actions.count("queue.sla_response_breached") == 1
    assert [e.action for e in case.events].count("sla_response_breached") == 1


def test_paused_clocks_never_escalate_and_move_to_escalation_queue(setup):
    from portal.queues.models import Queue

    lead = staff("supervisor")
    queue("escalations", escalation=True)
    q = db.session.scalar(select(Queue).where(Queue.slug == "claims"))
    save_sla(q, 3, 240, 480, 80, ["move_escalation"], lead)
    db.session.commit()
    waiting = new_case(now=at("2026-03-09 09:00"))
    setup["now"] = at("2026-03-09 10:00")
    lifecycle.change_state(waiting, "waiting_customer", actor=lead, now=setup["now"])
    late = new_case(now=at("2026-03-09 09:00"))
    db.session.commit()
    counts = escalation.check_sla(at("2026-03-09 16:00"))
    db.session.commit()
    assert counts["response_breached"] == 1
    assert work_of(waiting).response_breached_at is None
    assert work_of(late).queue.slug == "escalations"


def test_two_checks_racing_escalate_once(setup, app):
    """The marker is claimed with a conditional UPDATE: a second run finds nothing."""
    case = new_case(now=at("2026-03-09 09:00"))
    assert escalation._claim(case.id, "response_breached", at("2026-03-09 14:00"))
    assert not escalation._claim(case.id, "response_breached", at("2026-03-09 14:00"))
    db.session.rollback()
    assert db.session.get(CaseWork, case.id).response_breached_at is None
