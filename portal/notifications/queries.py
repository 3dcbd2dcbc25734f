"""Read-only views of the outbox for staff pages and the CLI."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage, OutboxStatus


def outbox_status() -> dict:
    """Counts per (status, channel) and the age in seconds of the oldest pending row."""
    rows = db.session.execute(
        select(OutboxMessage.status, OutboxMessage.channel, func.count())
        .group_by(OutboxMessage.status, OutboxMessage.channel)).all()
    oldest = db.session.scalar(
        select(OutboxMessage.created_at).where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(OutboxMessage.created_at).limit(1))
    age = (utcnow() - oldest).total_seconds() if oldest is not None else None
    return {"counts": {(s, c): n for s, c, n in rows}, "oldest_pending_seconds": age}


def failed_and_stale(limit: int = 200) -> list[OutboxMessage]:
    """Failed rows, and rows pending (or sending) for longer than ``OUTBOX_STALE_MINUTES``."""
    stale_before = utcnow() - timedelta(
        minutes=int(current_app.config.get("OUTBOX_STALE_MINUTES", 30)))
    return list(db.session.scalars(
        select(OutboxMessage).where(or_(
            OutboxMessage.status == OutboxStatus.FAILED,
            (OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
            & (OutboxMessage.created_at < stale_before),
        )).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)))


def mask_address(channel: str, address: str) -> str:
    """Show only the last 4 characters of a phone, or the first letter and domain of an
    email."""
    if channel == "email" and "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return "*" * max(0, len(address) - 4) + address[-4:]


# --- per-update delivery statistics (staff) ------------------------------------------------

#: How the outbox states are shown per update: queued covers pending and sending.
STAT_COLUMNS = ("queued", "sent", "delivered", "failed", "suppressed")


def _bucket(status: str) -> str:
    return "queued" if status in (OutboxStatus.PENDING, OutboxStatus.SENDING) else status


def recent_events(limit: int = 50) -> list[dict]:
    """The latest notified events (an incident update, a case notice...) with counts per
    state, newest first: one grouped query."""
    latest = (select(OutboxMessage.event_key, func.max(OutboxMessage.created_at).label("at"))
              .group_by(OutboxMessage.event_key)
              .order_by(func.max(OutboxMessage.created_at).desc()).limit(limit).subquery())
    rows = db.session.execute(
        select(OutboxMessage.event_key, OutboxMessage.status, func.count(), latest.c.at)
        .join(latest, latest.c.event_key == OutboxMessage.event_key)
        .group_by(OutboxMessage.event_key, OutboxMessage.status, latest.c.at)).all()
    events: dict[str, dict] = {}
    for event_key, status, count, at in rows:
        entry = events.setdefault(event_key, {"event_key": event_key, "at": at, "total": 0,
                                              **dict.fromkeys(STAT_COLUMNS, 0)})
        entry[_bucket(status)] = entry.get(_bucket(status), 0) + count
        entry["total"] += count
    return sorted(events.values(), key=lambda e: e["at"], reverse=True)


def event_stats(event_key: str) -> dict:
    """Counts per channel and state, provider statuses, and the reasons for failures and
    suppressions of one event."""
    by_channel: dict[str, dict] = {}
    for channel, status, count in db.session.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count())
            .where(OutboxMessage.event_key == event_key)
            .group_by(OutboxMessage.channel, OutboxMessage.status)):
        entry = by_channel.setdefault(channel, {"total": 0, **dict.fromkeys(STAT_COLUMNS, 0)})
        entry[_bucket(status)] = entry.get(_bucket(status), 0) + count
        entry["total"] += count
    reasons = [
        {"status": status, "error_code": code, "reason": reason, "count": count}
        for status, code, reason, count in db.session.execute(
            select(OutboxMessage.status, OutboxMessage.error_code, OutboxMessage.last_error,
                   func.count())
            .where(OutboxMessage.event_key == event_key,
                   OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.SUPPRESSED]))
            .group_by(OutboxMessage.status, OutboxMessage.error_code, OutboxMessage.last_error)
            .order_by(func.count().desc()).limit(50))]
    provider = dict(db.session.execute(
        select(OutboxMessage.provider_status, func.count())
        .where(OutboxMessage.event_key == event_key,
               OutboxMessage.provider_status.is_not(None))
        .group_by(OutboxMessage.provider_status)).all())
    totals = {"total": 0, **dict.fromkeys(STAT_COLUMNS, 0)}
    for entry in by_channel.values():
        for key in totals:
            totals[key] += entry[key]
    return {"event_key": event_key, "channels": by_channel, "totals": totals,
            "reasons": reasons, "provider": provider}
