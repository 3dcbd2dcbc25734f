"""Supervisors' settings: queues and their members, routing rules, SLA policies, keywords,
canned replies. Each change is audited; the route commits."""

from __future__ import annotations

from sqlalchemy import delete, select

from portal.content import make_translated
from portal.extensions import db
from portal.queues.models import (
    CannedReply,
    EscalationKeyword,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from portal.staff import audit
from portal.staff.models import StaffUser

RESERVED_SLUGS = {"settings", "availability"}


class AdminError(ValueError):
    """Bad settings; ``code`` names the field."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.code, self.detail = code, detail


def split(text: str | None) -> list[str]:
    """Comma- or newline-separated values."""
    return [p.strip() for p in (text or "").replace("\n", ",").replace("，", ",").split(",")
            if p.strip()]


def yuan_to_fen(text: str | None) -> int | None:
    """"3,200.50" -> 320050; None when empty; AdminError when not a number."""
    from decimal import Decimal, InvalidOperation

    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise AdminError("amount", text) from error
    if value < 0 or value > 10**9:
        raise AdminError("amount", text)
    return int((value * 100).to_integral_value())


def save_queue(queue: Queue | None, *, slug: str, name_zh_hans: str, name_en: str,
               strategy: str, calendar_id: int | None, lead_id: int | None,
               member_emails: list[str], position: int | None, is_fallback: bool,
               is_escalation: bool, actor) -> Queue:
    """Create or update a queue and its members (unknown emails are refused)."""
    if slug in RESERVED_SLUGS:  # would hide a page under /staff/queues/
        raise AdminError("slug", slug)
    other = db.session.scalar(select(Queue).where(Queue.slug == slug))
    if other is not None and other is not queue:
        raise AdminError("slug", slug)
    users = list(db.session.scalars(select(StaffUser).where(StaffUser.email.in_(member_emails))))
    unknown = sorted(set(member_emails) - {u.email for u in users})
    if unknown:
        raise AdminError("members", ", ".join(unknown))
    if queue is None:
        queue = Queue(slug=slug)
        db.session.add(queue)
    queue.slug, queue.strategy = slug, strategy
    queue.name = make_translated(name_zh_hans or name_en, "", name_en, previous=queue.name)
    queue.calendar_id, queue.lead_id = calendar_id, lead_id
    queue.position = position if position is not None else queue.position or 100
    if is_fallback:
        for q in db.session.scalars(select(Queue).where(Queue.is_fallback.is_(True))):
            q.is_fallback = False
    queue.is_fallback, queue.is_escalation = is_fallback, is_escalation
    db.session.flush()
    wanted = {u.id for u in users}
    have = set(db.session.scalars(select(QueueMember.user_id).where(
        QueueMember.queue_id == queue.id)))
    for uid in wanted - have:
        db.session.add(QueueMember(queue_id=queue.id, user_id=uid))
    if have - wanted:
        db.session.execute(delete(QueueMember).where(QueueMember.queue_id == queue.id,
                                                     QueueMember.user_id.in_(have - wanted)))
    db.session.flush()
    audit.record("queue.saved", "queue", slug, actor=actor, strategy=strategy,
                 members=sorted(member_emails), fallback=is_fallback)
    return queue


def rule_from_form(form) -> tuple[dict, dict]:
    """Conditions and actions from a ``RuleForm``."""
    conditions: dict = {}
    for name in ("kind", "type", "origin_region", "destination_region", "language", "keywords"):
        values = split(getattr(form, name).data)
        if values:
            conditions[name] = values
    incident = split(form.incident.data)
    if incident:
        conditions["incident"] = incident[0] if incident[0] in ("any", "none") else incident
    for name, field in (("amount_min_fen", form.amount_min), ("amount_max_fen", form.amount_max)):
        value = yuan_to_fen(field.data)
        if value is not None:
            conditions[name] = value
    if form.earlier_cases_min.data is not None:
        conditions["earlier_cases_min"] = int(form.earlier_cases_min.data)
    actions = {"queue": form.queue.data or None, "priority": int(form.priority.data or 3),
               "tags": split(form.tags.data)}
    return conditions, actions


def save_rule(rule: RoutingRule | None, *, name: str, position: int, enabled: bool,
              conditions: dict, actions: dict, actor) -> RoutingRule:
    """Create or update a routing rule."""
    if actions.get("queue") and db.session.scalar(
            select(Queue.id).where(Queue.slug == actions["queue"])) is None:
        raise AdminError("queue", actions["queue"])
    if rule is None:
        rule = RoutingRule()
        db.session.add(rule)
    rule.name, rule.position, rule.enabled = name.strip(), int(position), bool(enabled)
    rule.conditions, rule.actions = conditions, actions
    rule.updated_by_id = actor.id
    db.session.flush()
    audit.record("queue.rule_saved", "routing_rule", str(rule.id), actor=actor, name=rule.name,
                 position=rule.position, conditions=conditions, actions=actions)
    return rule


def delete_rule(rule: RoutingRule, actor) -> None:
    """Remove a rule."""
    audit.record("queue.rule_deleted", "routing_rule", str(rule.id), actor=actor, name=rule.name)
    db.session.delete(rule)
    db.session.flush()


def save_sla(queue: Queue, priority: int, first: int, resolution: int, at_risk: int,
             on_breach: list[str], actor) -> SlaPolicy:
    """Create or update a queue's policy for one priority."""
    if first <= 0 or resolution <= 0 or not 1 <= at_risk <= 99:
        raise AdminError("targets")
    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.queue_id == queue.id,
                                                       SlaPolicy.priority == priority))
    if policy is None:
        policy = SlaPolicy(queue_id=queue.id, priority=priority)
        db.session.add(policy)
    policy.first_response_minutes, policy.resolution_minutes = first, resolution
    policy.at_risk_percent, policy.on_breach = at_risk, on_breach
    policy.on_risk = ["notify_lead"] if "notify_lead" in on_breach else []
    db.session.flush()
    audit.record("queue.sla_saved", "queue", queue.slug, actor=actor, priority=priority,
                 first_response_minutes=first, resolution_minutes=resolution,
                 at_risk_percent=at_risk, on_breach=on_breach)
    return policy


def add_keyword(language: str, keyword: str, tag: str, priority: int, actor) -> EscalationKeyword:
    """Add (or re-enable) an escalation keyword."""
    from portal.queues.signals import ensure_defaults

    ensure_defaults()
    keyword = keyword.strip()
    row = db.session.scalar(select(EscalationKeyword).where(
        EscalationKeyword.language == language, EscalationKeyword.keyword == keyword))
    if row is None:
        row = EscalationKeyword(language=language, keyword=keyword)
        db.session.add(row)
    row.tag, row.priority, row.active = tag.strip().lower(), int(priority), True
    db.session.flush()
    audit.record("queue.keyword_saved", "keyword", f"{language}:{keyword}", actor=actor,
                 tag=row.tag, priority=row.priority)
    return row


def disable_keyword(row: EscalationKeyword, actor) -> None:
    """Stop using a keyword (kept for the record)."""
    row.active = False
    db.session.flush()
    audit.record("queue.keyword_disabled", "keyword", f"{row.language}:{row.keyword}",
                 actor=actor)


def save_canned(reply: CannedReply | None, *, slug: str, title: str, zh_hans: str, zh_hant: str,
                en: str, actor) -> CannedReply:
    """Create or update a canned reply (Traditional converted when left empty)."""
    other = db.session.scalar(select(CannedReply).where(CannedReply.slug == slug))
    if other is not None and other is not reply:
        raise AdminError("slug", slug)
    if reply is None:
        reply = CannedReply(slug=slug)
        db.session.add(reply)
    reply.slug, reply.title = slug, title.strip()
    reply.body = make_translated(zh_hans, zh_hant, en, previous=reply.body)
    reply.updated_by_id = actor.id
    db.session.flush()
    audit.record("queue.canned_saved", "canned_reply", slug, actor=actor)
    return reply
