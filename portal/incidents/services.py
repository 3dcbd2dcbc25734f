"""Incident lifecycle: declare, edit, draft and publish updates, correct, withdraw,
resolve, internal notes, reach counting and the stale-update alert.

Every function adds and flushes; the caller (route, CLI, task) commits. Every staff action
is written to the audit log in the same transaction. Anything customers can see marks the
public page cache for invalidation, which happens only after the commit (``cache.py``).
Drafts and drills notify nobody outside the drill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.content import make_translated
from portal.content import resolve as resolve_text
from portal.db import utcnow
from portal.extensions import db
from portal.incidents import cache
from portal.incidents.defaults import DEFAULT_TEMPLATES
from portal.incidents.markdown import plain_text
from portal.incidents.models import (
    AreaKind,
    Incident,
    IncidentArea,
    IncidentNote,
    IncidentType,
    IncidentUpdate,
    Severity,
    State,
    UpdateStatus,
    UpdateTemplate,
    Visibility,
)
from portal.notifications import services as notifications
from portal.references import new_reference
from portal.staff import audit
from portal.staff.models import Role, StaffUser


class IncidentError(ValueError):
    """An incident operation was refused; ``code`` says why (the route translates it)."""

    def __init__(self, code: str, message: str = ""):
        """``code``: not_draft, drill_cannot_publish, not_published, resolved, ..."""
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class AreaInput:
    """An affected area as staff typed it."""

    kind: str
    zh_hans: str
    en: str = ""
    zh_hant: str = ""


def _public_changed(incident: Incident) -> None:
    """Invalidate the public pages after commit when customers can see ``incident``."""
    if incident.visibility == Visibility.PUBLISHED:
        cache.invalidate_after_commit()


def area_code(name: str) -> str:
    """A stable filter key for an area name (whitespace collapsed, at most 120 chars)."""
    return " ".join((name or "").split())[:120]


def _set_areas(incident: Incident, areas: list[AreaInput]) -> None:
    incident.areas.clear()
    seen = set()
    for area in areas:
        kind = AreaKind(area.kind).value
        code = area_code(area.zh_hans or area.en)
        if not code or (kind, code) in seen:
            continue
        seen.add((kind, code))
        incident.areas.append(IncidentArea(
            kind=kind, code=code, name=make_translated(area.zh_hans, area.zh_hant, area.en)))


def default_template(state: str) -> UpdateTemplate:
    """The standard wording for ``state``: the default template in the table, else the
    built-in Statuspage wording (an unsaved template)."""
    query = (select(UpdateTemplate).where(UpdateTemplate.state == state)
             .order_by(UpdateTemplate.is_default.desc(), UpdateTemplate.id).limit(1))
    found = db.session.scalar(query)
    if found is not None:
        return found
    name, body = DEFAULT_TEMPLATES[State(state).value]
    return UpdateTemplate(state=state, name=name, body=dict(body), is_default=True)


def templates_by_state() -> dict[str, list[UpdateTemplate]]:
    """Every update template, grouped by state (built-in wording where a state has none)."""
    grouped: dict[str, list[UpdateTemplate]] = {s.value: [] for s in State}
    for template in db.session.scalars(select(UpdateTemplate).order_by(UpdateTemplate.id)):
        grouped.setdefault(template.state, []).append(template)
    for state, items in grouped.items():
        if not items:
            items.append(default_template(state))
    return grouped


def seed_default_templates() -> int:
    """Store the built-in wording for every state that has no template; return how many."""
    added = 0
    for state, (name, body) in DEFAULT_TEMPLATES.items():
        if db.session.scalar(select(UpdateTemplate.id).where(UpdateTemplate.state == state)
                             .limit(1)) is None:
            db.session.add(UpdateTemplate(state=state, name=name, body=dict(body),
                                          is_default=True))
            added += 1
    db.session.flush()
    return added


def save_template(actor: StaffUser, state: str, name: str, body: dict,
                  template: UpdateTemplate | None = None) -> UpdateTemplate:
    """Create or change an update template."""
    State(state)
    if template is None:
        template = UpdateTemplate(state=state, name=name, body=body, is_default=False)
        db.session.add(template)
    else:
        template.state, template.name, template.body = state, name, body
    db.session.flush()
    audit.record("incident_template.saved", "incident_update_template", template.id,
                 actor=actor, state=state, name=name)
    return template


# --- declare and edit ---------------------------------------------------------------------

def declare(actor: StaffUser, *, title: dict, summary: dict, type: str, severity: str,
            areas: list[AreaInput], started_at: datetime | None = None,
            expected_recovery_at: datetime | None = None, drill: bool = False,
            commander_id: int | None = None, first_update: dict | None = None,
            standing_offer: dict | None = None,
            standing_offer_policy: dict | None = None) -> Incident:
    """Declare an incident as a draft (or a drill), with a draft first update.

    Nothing is public and nobody is notified until a commander publishes it.
    """
    IncidentType(type)
    Severity(severity)
    incident = Incident(
        reference=new_reference("incident"), title=title, summary=summary, type=type,
        severity=severity, state=State.INVESTIGATING,
        visibility=Visibility.DRILL if drill else Visibility.DRAFT,
        started_at=started_at or utcnow(), expected_recovery_at=expected_recovery_at,
        commander_id=commander_id or (actor.id if actor.role == Role.COMMANDER else None),
        created_by_id=actor.id, standing_offer=standing_offer,
        standing_offer_policy=standing_offer_policy,
    )
    _set_areas(incident, areas)
    db.session.add(incident)
    db.session.flush()
    if first_update is None:
        first_update = dict(default_template(State.INVESTIGATING).body)
    db.session.add(IncidentUpdate(incident_id=incident.id, state=State.INVESTIGATING,
                                  body=first_update, status=UpdateStatus.DRAFT, notify=True,
                                  author_id=actor.id))
    db.session.flush()
    audit.record("incident.declared", "incident", incident.reference, actor=actor,
                 visibility=incident.visibility, severity=severity, type=type)
    return incident


def edit(actor: StaffUser, incident: Incident, *, title: dict, summary: dict, type: str,
         severity: str, areas: list[AreaInput], started_at: datetime,
         expected_recovery_at: datetime | None, commander_id: int | None,
         standing_offer: dict | None = None,
         standing_offer_policy: dict | None = None) -> Incident:
    """Change an incident's facts; the audit log keeps what they were."""
    IncidentType(type)
    Severity(severity)
    before = {"title": dict(incident.title or {}), "summary": dict(incident.summary or {}),
              "type": incident.type, "severity": incident.severity,
              "areas": [a.code for a in incident.areas],
              "expected_recovery_at": incident.expected_recovery_at,
              "standing_offer": dict(incident.standing_offer or {})}
    incident.title, incident.summary = title, summary
    incident.type, incident.severity = type, severity
    incident.started_at, incident.expected_recovery_at = started_at, expected_recovery_at
    incident.commander_id = commander_id
    incident.standing_offer, incident.standing_offer_policy = (standing_offer,
                                                               standing_offer_policy)
    _set_areas(incident, areas)
    incident.updated_at = utcnow()
    db.session.flush()
    audit.record("incident.edited", "incident", incident.reference, actor=actor, before=before)
    _public_changed(incident)
    return incident


# --- reach and notifications ----------------------------------------------------------------

def _topics(incident: Incident) -> list[tuple[str, str]]:
    topics = [("incident", incident.reference)]
    topics += [("region", a.code) for a in incident.areas if a.kind == AreaKind.REGION]
    return topics


def count_reach(incident: Incident) -> dict[str, int]:
    """How many people each channel will reach when the incident is announced (one
    counting query, whatever the number of subscribers)."""
    from portal.notifications.fanout import count_reach as count_addresses

    return count_addresses(_topics(incident))


def _context(incident: Incident, update: IncidentUpdate | None = None) -> dict:
    return {
        "reference": incident.reference, "title": dict(incident.title or {}),
        "summary": dict(incident.summary or {}), "severity": incident.severity,
        "state": incident.state, "path": f"/incidents/{incident.reference}",
        "expected_recovery_at": incident.expected_recovery_at,
        "update_text": {lang: plain_text(text) for lang, text in (update.body or {}).items()
                        if lang != "auto"} if update else {},
    }


def _announce(incident: Incident, template: str, event: str,
              update: IncidentUpdate | None = None, channels: set[str] | None = None) -> int:
    """Notify the incident's (and its regions') subscribers, set-based; the shared event
    key gives each address one message even when it follows several of the topics."""
    if incident.visibility != Visibility.PUBLISHED:
        return 0  # drafts and drills notify nobody
    context = _context(incident, update)
    event_key = f"incident:{incident.reference}:{event}"
    written = 0
    for topic_type, topic_key in _topics(incident):
        written += len(notifications.notify_subscribers(template, topic_type, topic_key,
                                                        context, event_key, channels))
    return written


def _notify_update(incident: Incident, update: IncidentUpdate) -> int:
    """Email subscribers about an ordinary update (SMS only on publish and resolve)."""
    if not update.notify:
        return 0
    return _announce(incident, "incident_update", f"update:{update.id}", update, {"email"})


# --- publish, updates, resolve ------------------------------------------------------------

def publish(actor: StaffUser, incident: Incident, notify: bool = True) -> int:
    """Publish a draft incident and its first update; notify subscribers (returns rows)."""
    if incident.visibility == Visibility.DRILL:
        raise IncidentError("drill_cannot_publish")
    if incident.visibility != Visibility.DRAFT:
        raise IncidentError("not_draft")
    now = utcnow()
    incident.visibility = Visibility.PUBLISHED
    incident.published_at = incident.last_public_update_at = now
    first = next((u for u in incident.updates if u.status == UpdateStatus.DRAFT), None)
    if first is not None:
        _mark_published(actor, incident, first, now)
    db.session.flush()
    audit.record("incident.published", "incident", incident.reference, actor=actor,
                 notify=notify, reach=count_reach(incident))
    cache.invalidate_after_commit()
    return _announce(incident, "incident_published", "published", first) if notify else 0


def draft_update(actor: StaffUser, incident: Incident, *, state: str, body: dict,
                 notify: bool = True) -> IncidentUpdate:
    """A responder (or commander) drafts an update; nothing is public yet."""
    State(state)
    if incident.state == State.RESOLVED and state != State.RESOLVED:
        raise IncidentError("resolved")
    update = IncidentUpdate(incident_id=incident.id, state=state, body=body,
                            status=UpdateStatus.DRAFT, notify=notify, author_id=actor.id)
    db.session.add(update)
    db.session.flush()
    audit.record("incident_update.drafted", "incident", incident.reference, actor=actor,
                 update_id=update.id, state=state)
    return update


def edit_draft(actor: StaffUser, update: IncidentUpdate, *, state: str, body: dict,
               notify: bool) -> IncidentUpdate:
    """Change a draft update before it is published."""
    if update.status != UpdateStatus.DRAFT:
        raise IncidentError("not_draft")
    State(state)
    update.state, update.body, update.notify = state, body, notify
    db.session.flush()
    audit.record("incident_update.draft_edited", "incident", update.incident.reference,
                 actor=actor, update_id=update.id)
    return update


def _mark_published(actor: StaffUser, incident: Incident, update: IncidentUpdate,
                    now: datetime) -> None:
    update.status = UpdateStatus.PUBLISHED
    update.published_at = now
    update.published_by_id = actor.id
    incident.state = update.state
    incident.last_public_update_at = now
    incident.stale_alert_sent_at = None
    if update.state == State.RESOLVED and incident.resolved_at is None:
        incident.resolved_at = now
    elif update.state != State.RESOLVED:
        incident.resolved_at = None


def publish_update(actor: StaffUser, update: IncidentUpdate) -> int:
    """A commander publishes a draft update; resolving notifies everyone, other updates
    email subscribers when marked notify. Returns the number of outbox rows written."""
    incident = update.incident
    if update.status != UpdateStatus.DRAFT:
        raise IncidentError("not_draft")
    if incident.visibility == Visibility.DRAFT:
        raise IncidentError("not_published")
    was_resolved = incident.state == State.RESOLVED
    _mark_published(actor, incident, update, utcnow())
    db.session.flush()
    audit.record("incident_update.published", "incident", incident.reference, actor=actor,
                 update_id=update.id, state=update.state, notify=update.notify)
    _public_changed(incident)
    if update.state == State.RESOLVED and not was_resolved:
        audit.record("incident.resolved", "incident", incident.reference, actor=actor)
        return _announce(incident, "incident_resolved", "resolved", update) \
            if update.notify else 0
    return _notify_update(incident, update)


def resolve(actor: StaffUser, incident: Incident, body: dict | None = None,
            notify: bool = True) -> int:
    """Post and publish a "resolved" update (standard wording unless ``body``)."""
    if incident.state == State.RESOLVED:
        raise IncidentError("resolved")
    if body is None:
        body = dict(default_template(State.RESOLVED).body)
    update = draft_update(actor, incident, state=State.RESOLVED, body=body, notify=notify)
    return publish_update(actor, update)


def correct_update(actor: StaffUser, update: IncidentUpdate, *, body: dict,
                   note: dict) -> IncidentUpdate:
    """Correct a published update; the page says so and the audit log keeps the original."""
    if update.status != UpdateStatus.PUBLISHED:
        raise IncidentError("not_published")
    audit.record("incident_update.corrected", "incident", update.incident.reference,
                 actor=actor, update_id=update.id, original=dict(update.body or {}),
                 note=dict(note or {}))
    update.body = body
    update.corrected_at = utcnow()
    update.correction_note = note
    db.session.flush()
    _public_changed(update.incident)
    return update


def withdraw_update(actor: StaffUser, update: IncidentUpdate, *, reason: dict) -> IncidentUpdate:
    """Withdraw a published update: the page shows that it was, the audit keeps it."""
    if update.status != UpdateStatus.PUBLISHED:
        raise IncidentError("not_published")
    audit.record("incident_update.withdrawn", "incident", update.incident.reference,
                 actor=actor, update_id=update.id, original=dict(update.body or {}),
                 reason=dict(reason or {}))
    update.status = UpdateStatus.WITHDRAWN
    update.withdrawn_at = utcnow()
    update.withdrawal_reason = reason
    db.session.flush()
    _public_changed(update.incident)
    return update


def discard_draft(actor: StaffUser, update: IncidentUpdate) -> None:
    """Delete a draft update that was never published."""
    if update.status != UpdateStatus.DRAFT:
        raise IncidentError("not_draft")
    audit.record("incident_update.discarded", "incident", update.incident.reference,
                 actor=actor, update_id=update.id, body=dict(update.body or {}))
    db.session.delete(update)
    db.session.flush()


def add_note(actor: StaffUser, incident: Incident, body: str) -> IncidentNote:
    """Add an internal note (never public)."""
    body = (body or "").strip()
    if not body:
        raise IncidentError("empty")
    note = IncidentNote(incident_id=incident.id, author_id=actor.id, body=body[:10000])
    db.session.add(note)
    db.session.flush()
    audit.record("incident.note_added", "incident", incident.reference, actor=actor,
                 note_id=note.id)
    return note


def title_text(incident: Incident, language: str | None = None) -> str:
    """The incident's title in ``language`` (with fallback)."""
    return resolve_text(incident.title, language).text
