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
