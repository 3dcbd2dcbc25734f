"""Helpers shared by the incident tests (no tests in here).

Import them with ``from test_incidents_support import ...``.
"""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db

ZH_TITLE = "台风影响广东派送"
EN_TITLE = "Typhoon delays deliveries in Guangdong"


def declare(app, role: str = "commander", drill: bool = False, publish: bool = False,
            severity: str = "major", title: tuple[str, str] = (ZH_TITLE, EN_TITLE),
            regions: tuple[tuple[str, str], ...] = (("广东省深圳市", "Shenzhen, Guangdong"),),
            first_update: dict | None = None) -> str:
    """Declare (and optionally publish) an incident as a staff member of ``role``."""
    from portal.content import make_translated
    from portal.incidents import services
    from portal.staff.models import StaffUser

    with app.app_context():
        actor = db.session.scalar(select(StaffUser).where(StaffUser.role == role))
        incident = services.declare(
            actor, title=make_translated(title[0], "", title[1]),
            summary=make_translated("台风登陆，深圳分拨中心暂停作业，预计延误两天。", "",
                                    "The typhoon closed the Shenzhen hub; expect two days "
                                    "of delay."),
            type="weather", severity=severity,
            areas=[services.AreaInput("region", zh, en) for zh, en in regions]
            + [services.AreaInput("hub", "深圳分拨中心", "Shenzhen hub")],
            drill=drill, first_update=first_update)
        if publish:
            services.publish(actor, incident)
        db.session.commit()
        return incident.reference


def get_incident(app, reference: str):
    """The incident (detached, with updates loaded)."""
    from portal.incidents import queries

    with app.app_context():
        incident = queries.find(reference)
        _ = [(u.body, u.status) for u in incident.updates], list(incident.areas)
        db.session.expunge_all()
        return incident


def subscribe_confirmed(app, address: str, topic_key: str, channel: str = "email",
                        topic_type: str = "incident", language: str = "en") -> None:
    """A confirmed subscription (as if the customer had clicked the link)."""
    import secrets

    from portal.notifications.models import Subscription

    with app.app_context():
        db.session.add(Subscription(channel=channel, address=address, topic_type=topic_type,
                                    topic_key=topic_key, language=language,
                                    status="confirmed", source="web",
                                    unsubscribe_token=secrets.token_urlsafe(16)))
        db.session.commit()


def outbox(app, template: str | None = None) -> list:
    """Outbox rows (detached), optionally of one template."""
    from portal.notifications.models import OutboxMessage

    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def outbox_count(app) -> int:
    """How many outbox rows exist."""
    from portal.notifications.models import OutboxMessage

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OutboxMessage))
