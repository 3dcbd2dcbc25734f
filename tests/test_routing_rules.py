"""Routing: every condition, first match wins, fallback, the recorded explanation,
escalation signals on a fixed set of sample messages, repeated contacts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.queues import signals
from portal.queues.models import RoutingDecision
from tests.test_queues_support import (
    incident,
    new_case,
    parcel,
    queue,
    rule,
    tags_of,
    tracking,
    work_of,
)


@pytest.fixture
def queues(app_ctx):
    """A fallback queue and a target queue."""
    return queue("general", fallback=True), queue("target")


def _routed_to(case) -> str | None:
    work = work_of(case)
    return work.queue.slug if work and work.queue else None


def test_no_rule_goes_to_fallback_with_explanation(queues):
    case = new_case()
    assert _routed_to(case) == "general"
    decision = db.session.scalar(select(RoutingDecision).where(RoutingDecision.case_id == case.id))
    assert decision.explanation.startswith("no rule matched")
    assert any(e.action == "routed" for e in case.events)


@pytest.mark.parametrize("conditions,matching,other", [
    ({"kind": ["complaint"]}, {"kind": "complaint", "type": "complaint_attitude"}, {}),
    ({"type": ["loss"]}, {"type": "loss", "amount_fen": 1000}, {"type": "delay"}),
    ({"language": ["zh_Hant"]}, {"language": "zh_Hant"}, {"language": "en"}),
    ({"amount_min_fen": 200000}, {"type": "loss", "amount_fen": 320000},
     {"type": "loss", "amount_fen": 200000}),
    ({"amount_max_fen": 5000}, {"type": "loss", "amount_fen": 5000},
     {"type": "loss", "amount_fen": 5001}),
    ({"keywords": ["broken", "碎"]}, {"text": "The vase arrived 碎了"}, {"text": "late again"}),
])
def test_each_case_condition(queues, conditions, matching, other):
    rule("R", conditions, {"queue": "target"})
    assert _routed_to(new_case(**matching)) == "target"
    assert _routed_to(new_case(**other)) == "general"


def test_incident_and_region_conditions(queues):
    flood = incident("INC-FLOOD")
    rule("Flood", {"incident": ["INC-FLOOD"], "origin_region": ["广东"],
                   "destination_region": ["北京"]}, {"queue": "target"})
    inside = tracking()
    parcel(inside, flood, "广东", "北京")
    elsewhere = tracking()
    parcel(elsewhere, flood, "浙江", "北京")
    db.session.commit()
    assert _routed_to(new_case(tracking_number=inside)) == "target"
    assert _routed_to(new_case(tracking_number=elsewhere)) == "general"
    assert _routed_to(new_case()) == "general"  # no incident at all


def test_incident_any_and_none(queues):
    queue("no-incident")
    rule("Any incident", {"incident": "any"}, {"queue": "target"}, position=1)
    rule("None", {"incident": "none"}, {"queue": "no-incident"}, position=2)
    linked = tracking()
    parcel(linked, incident())
    db.session.commit()
    assert _routed_to(new_case(tracking_number=linked)) == "target"
    assert _routed_to(new_case()) == "no-incident"


def test_earlier_cases_condition(queues):
    rule("Returning", {"earlier_cases_min": 2}, {"queue": "target"})
    assert _routed_to(new_case(phone="+8613900000001", email=None)) == "general"
    assert _routed_to(new_case(phone="+8613900000001", email=None)) == "general"
    assert _routed_to(new_case(phone="+8613900000001", email=None)) == "target"


def test_the_filing_counts_earlier_cases_for_routing_as_routing_would(queues):
    """A claim filed through the form's path counts the customer's earlier cases in its
    first query; routing uses that count, which equals routing's own."""
    from portal.cases import services
    from portal.cases.models import Case

    rule("Returning", {"earlier_cases_min": 2}, {"queue": "target"})
    filed = []
    for n, (phone, email) in enumerate([("+8613900000002", "wang@example.com")] * 3
                                       + [("+8613900000003", "wang@example.com")]):
        sub = services.Submission(
            kind="claim", type="delay", customer_name="Wang", phone_e164=phone,
            description="late", submission_token=f"earlier-{n}", email=email, language="en",
            tracking_number=tracking(), freight_fen=2350, consent=True)
        filed.append(services.submit(sub).case)
        db.session.commit()
    assert [case.earlier_cases_hint for case in filed] == [0, 1, 2, 3]
    assert [_routed_to(case) for case in filed] == ["general", "general", "target", "target"]
    ids = [case.id for case in filed]
    db.session.expunge_all()
    assert [signals.earlier_cases(db.session.get(Case, id_)) for id_ in ids] == [0, 1, 2, 3]


def test_first_match_wins_and_actions(queues):
    queue("high-value")
    rule("High value", {"amount_min_fen": 200000}, {"queue": "high-value", "priority": 2,
                                                    "tags": ["vip"]}, position=1)
    rule("Loss", {"type": ["loss"]}, {"queue": "target"}, position=2)
    case = new_case(type="loss", amount_fen=320000)
    work = work_of(case)
    assert work.queue.slug == "high-value" and work.priority == 2
    assert "vip" in tags_of(case)
    decision = db.session.scalar(select(RoutingDecision).where(RoutingDecision.case_id == case.id))
    assert decision.explanation == "rule 'High value' matched: amount 3,200 > 2,000"
    assert _routed_to(new_case(type="loss", amount_fen=1000)) == "target"


def test_disabled_rule_is_skipped_and_missing_queue_falls_back(queues):
    r = rule("Off", {}, {"queue": "target"}, position=1)
    r.enabled = False
    rule("Gone", {}, {"queue": "deleted-queue"}, position=2)
    db.session.commit()
    assert _routed_to(new_case()) == "general"


SAMPLES = [
    ("再不处理我就打12305投诉你们", {"12305", "complaint-threat"}, 1),
    ("我已经联系了媒体，准备曝光", {"media"}, 2),
    ("我的律师会联系你们", {"lawyer"}, 2),
    ("我會找律師和記者", {"lawyer", "media"}, 2),
    ("I will call my lawyer and go to the media", {"lawyer", "media"}, 2),
    ("I am going to sue you", {"lawyer"}, 2),
    ("There is an issue with my parcel", set(), 3),  # "sue" inside "issue" is no signal
    ("包裹晚了三天，请尽快处理", set(), 3),
    ("Please tell the postal authority", {"12305"}, 1),
]


@pytest.mark.parametrize("text,tags,priority", SAMPLES)
def test_signals_on_sample_messages(queues, text, tags, priority):
    found = signals.find_signals(text)
    assert {s.tag for s in found} == tags
    case = new_case(text=text, phone=None, email=None)
    assert tags <= tags_of(case)
    assert work_of(case).priority == priority


def test_keyword_list_is_maintained_in_the_database(queues):
    assert signals.ensure_defaults() > 0
    from portal.queues.admin import add_keyword
    from tests.test_queues_support import staff

    add_keyword("en", "ombudsman", "regulator", 1, staff("supervisor"))
    db.session.commit()
    assert {s.tag for s in signals.find_signals("I wrote to the ombudsman")} == {"regulator"}


def test_repeated_contacts_raise_priority(queues):
    from portal.cases import lifecycle

    case = new_case(phone="+8613700000009", email=None)
    assert work_of(case).priority == 3
    lifecycle.customer_message(case, "any news?")
    db.session.commit()
    assert work_of(case).priority == 3
    lifecycle.customer_message(case, "hello??")
    db.session.commit()
    assert work_of(case).priority == 2 and "repeat-contact" in tags_of(case)
    # a third case from the same phone is a repeated contact on arrival
    new_case(phone="+8613700000009", email=None)
    third = new_case(phone="+8613700000009", email=None)
    assert "repeat-contact" in tags_of(third)


def test_signal_in_a_later_message_escalates(queues):
    from portal.cases import lifecycle

    case = new_case(phone=None, email=None)
    lifecycle.customer_message(case, "I will contact a journalist")
    db.session.commit()
    assert "media" in tags_of(case) and work_of(case).priority == 2
    assert any(e.action == "escalation_signal" for e in case.events)


def test_routing_failure_never_loses_the_case(queues, monkeypatch):
    from portal.queues import routing

    def boom(case, facts=None):
        raise RuntimeError("broken rule")

    monkeypatch.setattr(routing, "decide", boom)
    case = new_case()
    assert case.id and work_of(case) is None
    monkeypatch.undo()
    assert routing.route_unrouted() == 1
    db.session.commit()
    assert work_of(case).queue.slug == "general"
