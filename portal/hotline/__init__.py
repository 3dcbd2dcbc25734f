"""The SMS hotline: Twilio webhooks (inbound messages, status callbacks), keyword commands
in Chinese and English, replies in the sender's language; and the fan-out expansion that
lets parcel subscribers hear about their parcel's incident.

``init_app`` (called from ``create_app``) registers the blueprint and the expansion.
"""

from __future__ import annotations

from flask import Flask


def parcels_of_incident(reference: str):
    """Fan-out expansion: the tracking numbers listed (active) on incident ``reference``,
    as a SELECT the outbox INSERT uses directly."""
    from sqlalchemy import select

    from portal.incidents.models import Incident
    from portal.parcels.models import AffectedParcel

    keys = (select(AffectedParcel.tracking_number)
            .join(Incident, Incident.id == AffectedParcel.incident_id)
            .where(Incident.reference == reference, AffectedParcel.active.is_(True)))
    return "parcel", keys


def init_app(app: Flask) -> None:
    """Wire the hotline into ``app``."""
    from portal.hotline.routes import bp
    from portal.notifications.fanout import register_expansion

    app.register_blueprint(bp)
    register_expansion("incident", parcels_of_incident)
