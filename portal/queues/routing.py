"""Routing: every case reaches a queue, with a priority, tags and a readable reason.

Rules are ordered (``position``), the first enabled rule whose conditions all hold wins;
a rule with no conditions matches everything. Conditions (all optional):

- ``kind`` / ``type``: lists of case kinds and types;
- ``incident``: ``"any"`` (linked to an incident), ``"none"``, or a list of references;
- ``origin_region`` / ``destination_region``: provinces or cities of the parcel;
- ``language``: the customer's languages;
- ``amount_min_fen`` / ``amount_max_fen``: the amount claimed;
- ``keywords``: any of these words in the customer's text;
- ``earlier_cases_min``: the customer (same phone or email) filed at least N earlier cases.

Actions: ``queue`` (slug), ``priority`` (1 urgent .. 4 low), ``tags``. A case no rule
matches goes to the fallback queue. Escalation signals (``signals.py``) then raise the
priority and add tags. The decision is stored in ``RoutingDecision`` (e.g. "rule 'High
value' matched: amount 3,200 > 2,000") and in the case's history.

``route_case(case)`` runs inside a savepoint: a routing failure never loses the claim (the
periodic job routes cases left without a queue).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm.util import identity_key

from portal.db import utcnow
from portal.extensions import db
from portal.queues import signals, sla
from portal.queues.models import (
    CaseTag,
    CaseWork,
    Priority,
    Queue,
    RoutingDecision,
)
from portal.queues.routing_config import QueueInfo, RuleInfo, routing_config

log = logging.getLogger("portal.queues.routing")
CONDITIONS = ("kind", "type", "incident", "origin_region", "destination_region", "language",
              "amount_min_fen", "amount_max_fen", "keywords", "earlier_cases_min")


def yuan_text(fen: int | None) -> str:
    """3,200 or 3,200.50 (yuan)."""
    if fen is None:
        return "-"
    whole, cents = divmod(int(fen), 100)
    return f"{whole:,}" + (f".{cents:02d}" if cents else "")


@dataclass
class Facts:
    """What the rules look at."""

    kind: str
    type: str
    incident: str | None
    origin: set[str]
    destination: set[str]
    language: str
    amount_fen: int | None
    text: str
    earlier_cases: int


def facts_of(case) -> Facts:
    """Collect the facts of a case (its parcel's regions, its customer's texts)."""
    parcel = None
    if case.parcel_id:
        from portal.parcels.models import AffectedParcel

        parcel = db.session.get(AffectedParcel, case.parcel_id)
    origin = {v for v in (getattr(parcel, "origin_province", None),
                          getattr(parcel, "origin_city", None)) if v}
    destination = {v for v in (getattr(parcel, "destination_province", None),
                               getattr(parcel, "destination_city", None)) if v}
    text = "\n".join(m.body or "" for m in case.messages if m.kind == "customer")
    incident = case.incident.reference if case.incident_id and case.incident else None
    return Facts(case.kind, case.type, incident, origin, destination, case.language,
                 case.claimed_fen, text, signals.earlier_cases(case))


def _norm(values) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [str(v).strip() for v in values or [] if str(v).strip()]


def check(conditions: dict, facts: Facts) -> tuple[bool, list[str]]:
    """Whether all conditions hold, and the reasons in words."""
    reasons: list[str] = []
    c = conditions or {}
    for name in ("kind", "type", "language"):
        wanted = _norm(c.get(name))
        if wanted:
            value = getattr(facts, name)
            if value not in wanted:
                return False, []
            reasons.append(f"{name} {value}")
    incident = c.get("incident")
    if incident == "any":
        if not facts.incident:
            return False, []
        reasons.append(f"incident {facts.incident}")
    elif incident == "none":
        if facts.incident:
            return False, []
        reasons.append("no incident")
    elif _norm(incident):
        if facts.incident not in _norm(incident):
            return False, []
        reasons.append(f"incident {facts.incident}")
    for name, have in (("origin_region", facts.origin), ("destination_region", facts.destination)):
        wanted = {w.lower() for w in _norm(c.get(name))}
        if wanted:
            hit = sorted(v for v in have if v.lower() in wanted)
            if not hit:
                return False, []
            reasons.append(f"{name.replace('_', ' ')} {hit[0]}")
    low, high = c.get("amount_min_fen"), c.get("amount_max_fen")
    if low is not None:
        if facts.amount_fen is None or facts.amount_fen <= int(low):
            return False, []
        reasons.append(f"amount {yuan_text(facts.amount_fen)} > {yuan_text(int(low))}")
    if high is not None:
        if facts.amount_fen is None or facts.amount_fen > int(high):
            return False, []
        reasons.append(f"amount {yuan_text(facts.amount_fen)} <= {yuan_text(int(high))}")
    words = _norm(c.get("keywords"))
    if words:
        hits = [w for w in words if signals._matches(w, facts.text.lower())]
        if not hits:
            return False, []
        reasons.append("text mentions " + ", ".join(f"'{w}'" for w in hits))
    earlier = c.get("earlier_cases_min")
    if earlier is not None:
        if facts.earlier_cases < int(earlier):
            return False, []
        reasons.append(f"{facts.earlier_cases} earlier cases >= {int(earlier)}")
    return True, reasons


@dataclass
class Decision:
    """The outcome of evaluating the rules for one case."""

    queue: QueueInfo | None
    priority: int
    tags: list[str] = field(default_factory=list)
    rule: RuleInfo | None = None
    explanation: str = ""
    signals: list[signals.Signal] = field(default_factory=list)


def fallback_queue() -> Queue | None:
    """The queue that catches cases no rule matched."""
    return db.session.scalar(select(Queue).where(Queue.is_fallback.is_(True),
                                                 Queue.active.is_(True))
                             .order_by(Queue.position, Queue.id).limit(1))


def queue_by_slug(slug: str | None) -> Queue | None:
    """An active queue by its slug."""
    if not slug:
        return None
    return db.session.scalar(select(Queue).where(Queue.slug == slug))


def decide(case, facts: Facts | None = None) -> Decision:
    """Evaluate the rules (first match wins), the fallback and the signals."""
    facts = facts or facts_of(case)
    config = routing_config()
    decision = None
    for rule in config.rules:
        ok, reasons = check(rule.conditions, facts)
        if not ok:
            continue
        actions = rule.actions
        queue = config.queues.get(actions.get("queue") or "")
        if queue is None or not queue.active:
            queue = config.fallback
        why = f"rule '{rule.name}' matched: " + ("; ".join(reasons) or "always")
        decision = Decision(queue, int(actions.get("priority") or Priority.NORMAL),
                            _norm(actions.get("tags")), rule, why)
        break
    if decision is None:
        queue = config.fallback
        decision = Decision(queue, Priority.NORMAL, [], None,
                            "no rule matched: fallback queue" if queue else
                            "no rule matched and no fallback queue")
    found = signals.find_signals(facts.text)
    repeat = signals.repeat_signal(1, facts.earlier_cases)
    if repeat is not None:
        found.append(repeat)
    for signal in found:
        decision.priority = min(decision.priority, signal.priority)
        if signal.tag not in decision.tags:
            decision.tags.append(signal.tag)
    decision.signals = found
    if found:
        decision.explanation += "; " + "; ".join(s.explain() for s in found)
    return decision


def normalise_tag(tag: str) -> str:
    """A tag as stored: trimmed, lower case, at most 40 characters."""
    return tag.strip().lower()[:40]


def add_tags(case_id: int, tags: list[str], source: str,
             have: set[str] | None = None) -> list[str]:
    """Tag a case (existing tags are kept); returns the tags added.

    ``have``: the case's tags when the caller knows them (a case filed in this
    transaction has none), which saves reading them."""
    if not tags:
        return []
    if have is None:
        have = set(db.session.scalars(select(CaseTag.tag).where(CaseTag.case_id == case_id)))
    added = []
    for tag in tags:
        tag = normalise_tag(tag)
        if tag and tag not in have:
            db.session.add(CaseTag(case_id=case_id, tag=tag, source=source))
            have.add(tag)
            added.append(tag)
    return added


def _unrouted_work(case, now: datetime | None = None) -> CaseWork:
    """A new work row for the case, not yet in the session: no queue, normal priority."""
    return CaseWork(case_id=case.id, state=case.state, is_open=case.state in sla.OPEN_STATES,
                    opened_at=case.created_at or now or utcnow(), priority=Priority.NORMAL,
                    paused_seconds=0, contacts=1, signals=[], escalated=False)


def ensure_work(case, now: datetime | None = None) -> CaseWork:
    """The case's work row, created (unrouted) when missing."""
    work = db.session.get(CaseWork, case.id)
    if work is None:
        work = _unrouted_work(case, now)
        db.session.add(work)
    return work


def apply(case, decision: Decision, *, actor=None, now: datetime | None = None,
          new: bool = False) -> CaseWork:
    """Store a decision: work row, SLA, tags, decision row and history, in one flush.

    ``new``: the case was filed in this transaction (no work row or tags to read); its
    rows are then written with one INSERT each (``_write_new``): this runs on every claim."""
    from portal.cases.services import log_event

    now = now or utcnow()
    work = _unrouted_work(case, now) if new else ensure_work(case, now)
    work.queue_id = decision.queue.id if decision.queue else None
    work.queue = db.session.get(Queue, work.queue_id) if work.queue_id else None
    work.priority = decision.priority
    work.signals = sorted({*(work.signals or []), *(s.tag for s in decision.signals)})
    if work.state in sla.PAUSED_STATES and work.paused_since is None:
        work.paused_since = now
    if work.sla_started_at is None:  # the clocks run from the filing, not the routing
        work.sla_started_at = case.created_at or now
    sla.start(work, now)
    routed = {
        "case_id": case.id, "rule_id": decision.rule.id if decision.rule else None,
        "rule_name": decision.rule.name if decision.rule else "",
        "queue_id": work.queue_id, "priority": decision.priority,
        "explanation": decision.explanation[:2000],
        "detail": {"tags": decision.tags, "signals": [s.tag for s in decision.signals]},
        "actor_label": getattr(actor, "email", None) or "routing", "created_at": now}
    history = {"queue": decision.queue.slug if decision.queue else None,
               "priority": decision.priority, "explanation": decision.explanation[:500]}
    if new:
        return _write_new(case, work, decision, routed, history, actor, now)
    add_tags(case.id, decision.tags, "rule")
    db.session.add(RoutingDecision(**routed))
    log_event(case, "routed", actor=actor, actor_label="" if actor else "routing", **history)
    db.session.flush()
    return work


def _write_new(case, draft: CaseWork, decision: Decision, routed: dict, history: dict,
               actor, now: datetime) -> CaseWork:
    """The rows of a new case's routing, one INSERT each; returns the persistent work row."""
    from sqlalchemy.orm.attributes import set_committed_value

    from portal.cases.models import CaseEvent
    from portal.cases.services import event_row
    from portal.db import as_persistent, insert_together

    columns = CaseWork.__table__.columns.keys()
    tags = sorted({normalise_tag(t) for t in decision.tags} - {""})
    # One round trip on PostgreSQL for the four tables.
    (work_row,), *_ = insert_together(db.session, [
        (CaseWork, [{k: v for k, v in vars(draft).items() if k in columns}]),
        (CaseTag, [{"case_id": case.id, "tag": t, "source": "rule"} for t in tags]),
        (RoutingDecision, [routed]),
        (CaseEvent, [{**event_row("routed", actor=actor, actor_label="" if actor else "routing",
                                  **history), "case_id": case.id, "created_at": now}]),
    ])
    work = as_persistent(db.session, CaseWork, work_row)
    set_committed_value(case, "work", work)
    return work


def route_case(case, *, actor=None, now: datetime | None = None,
               new: bool = False) -> CaseWork | None:
    """Route a new case (called when the case is created). Never raises: on failure the
    case stays unrouted and the periodic job routes it later.

    ``new``: the case was filed in this transaction and has no work row yet."""
    from portal.queues import assignment

    try:
        with db.session.begin_nested():
            decision = decide(case)
            work = apply(case, decision, actor=actor, now=now, new=new)
            if decision.queue is not None and decision.queue.strategy != "manual":
                assignment.auto_assign(work, now=now)
        return work
    except Exception:
        log.exception("routing failed for case %s; left for the periodic job", case.id)
        if new:  # the work row written in the savepoint is gone: forget its object too
            stale = db.session.identity_map.get(identity_key(CaseWork, case.id))
            if stale is not None:
                db.session.expunge(stale)
        return None


def route_unrouted(limit: int = 200) -> int:
    """Route cases that have no work row yet (routing failed, or filed before routing),
    and open cases left without a queue once a fallback queue exists."""
    from sqlalchemy import and_, or_

    from portal.cases.models import Case

    unrouted = CaseWork.case_id.is_(None)
    if fallback_queue() is not None:
        unrouted = or_(unrouted, and_(CaseWork.queue_id.is_(None), CaseWork.is_open.is_(True)))
    cases = list(db.session.scalars(
        select(Case).outerjoin(CaseWork, CaseWork.case_id == Case.id)
        .where(unrouted, Case.merged_into_id.is_(None))
        .order_by(Case.id).limit(limit)))
    for case in cases:
        route_case(case)
    return len(cases)
