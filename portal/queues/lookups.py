"""Read-only queries behind the queue pages, so the routes stay free of SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.extensions import db
from portal.queues.models import (
    BusinessCalendar,
    CannedReply,
    CaseApproval,
    CaseTag,
    EscalationKeyword,
    Queue,
    RoutingDecision,
    RoutingRule,
    SlaPolicy,
)
from portal.staff.models import StaffUser


def ordered_queues() -> list[Queue]:
    """Every queue in display order."""
    return list(db.session.scalars(select(Queue).order_by(Queue.position, Queue.id)))


def settings_overview() -> dict:
    """What the supervisors' settings page lists: queues, rules, SLA policies, calendars,
    keywords and canned replies."""
    return {
        "queues": ordered_queues(),
        "rules": list(db.session.scalars(
            select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))),
        "policies": list(db.session.execute(
            select(SlaPolicy, Queue.slug).join(Queue, Queue.id == SlaPolicy.queue_id)
            .order_by(Queue.slug, SlaPolicy.priority))),
        "calendars": list(db.session.scalars(
            select(BusinessCalendar).order_by(BusinessCalendar.name))),
        "keywords": list(db.session.scalars(
            select(EscalationKeyword).order_by(EscalationKeyword.language,
                                               EscalationKeyword.keyword))),
        "canned": list(db.session.scalars(select(CannedReply).order_by(CannedReply.title))),
    }


def calendar_choices() -> list[tuple[str, str]]:
    """(id, name) of every business calendar."""
    return [(str(c.id), c.name) for c in db.session.scalars(
        select(BusinessCalendar).order_by(BusinessCalendar.name))]


def active_staff_choices() -> list[tuple[str, str]]:
    """(id, email) of every active staff member (queue leads)."""
    return [(str(u.id), u.email) for u in db.session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.email))]


def canned_by_slug(slug: str) -> CannedReply | None:
    """A canned reply by its slug."""
    return db.session.scalar(select(CannedReply).where(CannedReply.slug == slug))


def active_canned() -> list[CannedReply]:
    """Canned replies agents may use, by title."""
    return list(db.session.scalars(select(CannedReply).where(CannedReply.active.is_(True))
                                   .order_by(CannedReply.title)))


def case_with_collections(reference: str):
    """A case with everything its staff page shows, in a few round trips."""
    from portal.cases.models import Case

    return db.session.scalar(select(Case).where(Case.reference == reference).options(
        selectinload(Case.messages), selectinload(Case.events), selectinload(Case.evidence),
        joinedload(Case.policy_version), joinedload(Case.incident)))


def case_page_lists(case_id: int) -> dict:
    """Routing decisions, tags and approvals of a case, oldest first."""
    return {
        "decisions": list(db.session.scalars(select(RoutingDecision).where(
            RoutingDecision.case_id == case_id).order_by(RoutingDecision.id))),
        "tags": list(db.session.scalars(select(CaseTag.tag).where(CaseTag.case_id == case_id)
                                        .order_by(CaseTag.tag))),
        "approvals": list(db.session.scalars(select(CaseApproval).where(
            CaseApproval.case_id == case_id).order_by(CaseApproval.id))),
    }


def assignable_staff() -> list[StaffUser]:
    """Active agents and supervisors, for assignment selects."""
    return list(db.session.scalars(select(StaffUser).where(
        StaffUser.role.in_(("agent", "supervisor")), StaffUser.active.is_(True))
        .order_by(StaffUser.email)))


def queue_ids_of(user_id: int) -> set[int]:
    """The queues a staff member belongs to."""
    from portal.queues.models import QueueMember

    return set(db.session.scalars(select(QueueMember.queue_id).where(
        QueueMember.user_id == user_id)))


def incident_by_exact_reference(reference: str):
    """The incident whose reference is exactly ``reference`` (as typed by staff)."""
    from portal.incidents.models import Incident

    return db.session.scalar(select(Incident).where(Incident.reference == reference))
