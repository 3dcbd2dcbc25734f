"""Read side: what the public pages, feeds, API and the staff dashboard show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal.content import resolve
from portal.db import utcnow
from portal.extensions import db
from portal.incidents.models import (
    SEVERITY_RANK,
    Incident,
    IncidentArea,
    IncidentUpdate,
    State,
    UpdateStatus,
    Visibility,
)
from portal.references import normalise_reference


@dataclass
class HomeData:
    """What the home page shows."""

    active: list[Incident]
    resolved: list[Incident]
    areas: list[tuple[str, dict]] = field(default_factory=list)  # (code, name) for the filter
    area: str = ""
    updated_at: datetime | None = None
    resolved_total: int = 0


def _public_query():
    return (select(Incident).where(Incident.visibility == Visibility.PUBLISHED)
            .options(selectinload(Incident.areas)))


def _severity_key(incident: Incident):
    return (-SEVERITY_RANK.get(incident.severity, 0), -incident.started_at.timestamp())


def home(area: str = "", now: datetime | None = None) -> HomeData:
    """Active public incidents (most severe first), then the last N days resolved."""
    now = now or utcnow()
    days = int(current_app.config.get("INCIDENT_RESOLVED_DAYS", 30))
    query = _public_query().where(or_(Incident.resolved_at.is_(None),
                                      Incident.resolved_at >= now - timedelta(days=days)))
    incidents = list(db.session.scalars(query))
    areas: dict[str, dict] = {}
    for incident in incidents:
        for item in incident.areas:
            areas.setdefault(item.code, dict(item.name or {}))
    if area:
        incidents = [i for i in incidents if any(a.code == area for a in i.areas)]
    active = sorted((i for i in incidents if i.state != State.RESOLVED), key=_severity_key)
    resolved = sorted((i for i in incidents if i.state == State.RESOLVED),
                      key=lambda i: i.resolved_at or i.started_at, reverse=True)
    stamps = [i.last_public_update_at or i.published_at for i in incidents]
    limit = int(current_app.config.get("INCIDENT_HOME_RESOLVED_LIMIT", 20))
    return HomeData(active=active, resolved=resolved[:limit], resolved_total=len(resolved),
                    areas=sorted(areas.items(), key=lambda kv: kv[0]), area=area,
                    updated_at=max((s for s in stamps if s), default=None))


def find(reference: str) -> Incident | None:
    """Any incident by reference (staff)."""
    return db.session.scalar(select(Incident).where(
        Incident.reference == normalise_reference(reference)))


def public_incident(reference: str) -> Incident | None:
    """A published incident by reference (customers)."""
    return db.session.scalar(_public_query().where(
        Incident.reference == normalise_reference(reference)))


def timeline(incident: Incident) -> list[IncidentUpdate]:
    """Published and withdrawn updates, newest first (drafts never appear)."""
    return sorted((u for u in incident.updates
                   if u.status in (UpdateStatus.PUBLISHED, UpdateStatus.WITHDRAWN)),
                  key=lambda u: (u.published_at, u.id), reverse=True)


def recent_public_updates(limit: int = 50) -> list[IncidentUpdate]:
    """The newest public updates of every public incident (the site feed)."""
    query = (select(IncidentUpdate).join(Incident)
             .where(Incident.visibility == Visibility.PUBLISHED,
                    IncidentUpdate.status.in_([UpdateStatus.PUBLISHED, UpdateStatus.WITHDRAWN]))
             .options(selectinload(IncidentUpdate.incident))
             .order_by(IncidentUpdate.published_at.desc(), IncidentUpdate.id.desc())
             .limit(limit))
    return list(db.session.scalars(query))


def public_list(state: str = "", area: str = "", limit: int = 50,
                before: int | None = None) -> list[Incident]:
    """Public incidents for the API, newest first, keyset-paginated on id."""
    query = _public_query().order_by(Incident.id.desc()).limit(limit)
    if state == "active":
        query = query.where(Incident.state != State.RESOLVED)
    elif state:
        query = query.where(Incident.state == state)
    if area:
        query = query.where(Incident.areas.any(IncidentArea.code == area))
    if before is not None:
        query = query.where(Incident.id < before)
    return list(db.session.scalars(query.options(selectinload(Incident.updates))))


def staff_dashboard(now: datetime | None = None) -> tuple[list[Incident], list[Incident]]:
    """Active incidents of every visibility, then the 20 most recently resolved."""
    active = list(db.session.scalars(
        select(Incident).where(Incident.state != State.RESOLVED)
        .options(selectinload(Incident.updates)).order_by(Incident.started_at.desc())))
    active.sort(key=_severity_key)
    resolved = list(db.session.scalars(
        select(Incident).where(Incident.state == State.RESOLVED)
        .order_by(Incident.resolved_at.desc()).limit(20)))
    return active, resolved


def title_of(incident: Incident, language: str | None = None) -> str:
    """The title in the reader's language."""
    return resolve(incident.title, language).text


def commanders() -> list:
    """Active commanders and administrators, for the incident's commander select."""
    from portal.staff.models import Role, StaffUser

    return list(db.session.scalars(select(StaffUser).where(
        StaffUser.role.in_([Role.COMMANDER, Role.ADMIN]), StaffUser.active.is_(True))
        .order_by(StaffUser.email)))


def authors_of(incident: Incident) -> dict:
    """The staff who wrote the incident's updates and notes, by id (one query)."""
    from portal.staff.models import StaffUser

    ids = {u.author_id for u in incident.updates} | {n.author_id for n in incident.notes}
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))}
