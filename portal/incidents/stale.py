"""The stale-update alert: an announced, active incident with no public update for
``INCIDENT_STALE_MINUTES[severity]`` minutes (default 30) is flagged on the dashboard and
its commander is notified once per silence through the notifications core."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.incidents.models import Incident, State, Visibility
from portal.incidents.services import _context
from portal.notifications import services as notifications
from portal.staff import audit
from portal.staff.models import Role, StaffUser


def stale_minutes(severity: str) -> int:
    """Minutes without a public update after which an active incident is stale."""
    table = current_app.config.get("INCIDENT_STALE_MINUTES") or {}
    return int(table.get(severity, table.get("default", 30)))


def is_stale(incident: Incident, now: datetime | None = None) -> bool:
    """True when an announced, active incident has had no public update for too long."""
    if incident.state == State.RESOLVED or incident.visibility == Visibility.DRAFT:
        return False
    last = incident.last_public_update_at or incident.published_at or incident.created_at
    return (now or utcnow()) - last >= timedelta(minutes=stale_minutes(incident.severity))


def _commanders(incident: Incident) -> list[StaffUser]:
    if incident.commander_id:
        user = db.session.get(StaffUser, incident.commander_id)
        if user is not None and user.active:
            return [user]
    return list(db.session.scalars(select(StaffUser).where(
        StaffUser.role == Role.COMMANDER, StaffUser.active.is_(True))))


def alert_stale(now: datetime | None = None) -> list[str]:
    """Notify the commander of each stale incident, once per silence; return references."""
    now = now or utcnow()
    alerted = []
    query = select(Incident).where(Incident.state != State.RESOLVED,
                                   Incident.visibility != Visibility.DRAFT)
    for incident in db.session.scalars(query):
        if not is_stale(incident, now):
            continue
        last = incident.last_public_update_at or incident.published_at or incident.created_at
        if incident.stale_alert_sent_at is not None and incident.stale_alert_sent_at >= last:
            continue
        recipients = [notifications.Recipient("email", u.email, u.language)
                      for u in _commanders(incident)]
        context = {**_context(incident), "minutes": int((now - last).total_seconds() // 60),
                   "staff_path": f"/staff/incidents/{incident.reference}",
                   "drill": incident.visibility == Visibility.DRILL}
        notifications.notify("incident_stale", recipients, context,
                             f"incident:{incident.reference}:stale:{int(last.timestamp())}")
        incident.stale_alert_sent_at = now
        audit.record("incident.stale_alert", "incident", incident.reference,
                     actor_label="system", minutes=context["minutes"],
                     recipients=[r.address for r in recipients])
        alerted.append(incident.reference)
    db.session.flush()
    return alerted
