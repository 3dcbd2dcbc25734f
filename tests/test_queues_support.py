"""Helpers shared by the queues tests (no tests here): staff, queues, cases created through
the claims services, incidents and parcels with regions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import select

from portal.extensions import db

_n = itertools.count(1)
PHONE = "+8613800138000"


def staff(role: str = "agent", email: str | None = None, name: str = ""):
    """A committed staff member (inside an app context)."""
    from portal.staff import services

    user = services.create_staff(email or f"{role}{next(_n)}@example.com", role,
                                 "correct horse battery staple", name=name)
    db.session.flush()
    return user


def queue(slug: str, *, strategy: str = "manual", members=(), fallback: bool = False,
          escalation: bool = False, lead=None, calendar=None, position: int = 100):
    """A queue with members (StaffUser objects)."""
    from portal.queues.models import Queue, QueueMember

    q = Queue(slug=slug, name={"en": slug.title(), "zh_Hans": slug}, strategy=strategy,
              is_fallback=fallback, is_escalation=escalation, position=position,
              lead_id=lead.id if lead else None, calendar_id=calendar.id if calendar else None)
    db.session.add(q)
    db.session.flush()
    for user in members:
        db.session.add(QueueMember(queue_id=q.id, user_id=user.id))
    db.session.flush()
    return q


def rule(name: str, conditions: dict, actions: dict, position: int = 100):
    """A routing rule."""
    from portal.queues.models import RoutingRule

    r = RoutingRule(name=name, position=position, enabled=True, conditions=conditions,
                    actions=actions)
    db.session.add(r)
    db.session.flush()
    return r


def incident(reference: str | None = None, offer_policy: dict | None = None):
    """A published incident."""
    from portal.incidents.models import Incident

    inc = Incident(reference=reference or f"INC-{next(_n):04d}", title={"en": "Flood"},
                   summary={"en": "Flood"}, visibility="public", state="identified",
                   standing_offer_policy=offer_policy)
    db.session.add(inc)
    db.session.flush()
    return inc


def parcel(tracking: str, inc, origin: str = "广东", destination: str = "北京"):
    """An affected parcel with regions."""
    from portal.parcels.models import AffectedParcel

    row = AffectedParcel(incident_id=inc.id, tracking_number=tracking, service_line="standard",
                         origin_province=origin, destination_province=destination,
                         active=True)
    db.session.add(row)
    db.session.flush()
    return row


def tracking() -> str:
    """A distinct tracking number."""
    return f"SF{8000000000000 + next(_n):013d}"


def new_case(*, kind: str = "claim", type: str = "delay", text: str = "My parcel is late.",
             phone: str | None = PHONE, email: str | None = "li@example.com",
             language: str = "en", amount_fen: int | None = None, freight_fen: int = 2350,
             tracking_number: str | None = None, source: str = "web", now=None,
             commit: bool = True):
    """A case filed through the claims service (routed on commit)."""
    from portal.cases import services

    sub = services.Submission(
        kind=kind, type=type, customer_name="Li Lei", phone_e164=phone, description=text,
        submission_token=f"tok-{next(_n)}", email=email, language=language,
        tracking_number=tracking_number or tracking(), claimed_fen=amount_fen,
        freight_fen=freight_fen, consent=True, source=source)
    case = services.create_case(sub, now=now)
    if commit:
        db.session.commit()
    return case


def work_of(case):
    """The case's work row, fresh from the database."""
    from portal.queues.models import CaseWork

    db.session.expire_all()
    return db.session.get(CaseWork, case.id)


def tags_of(case) -> set[str]:
    """The case's tags."""
    from portal.queues.models import CaseTag

    return set(db.session.scalars(select(CaseTag.tag).where(CaseTag.case_id == case.id)))


def at(text: str) -> datetime:
    """A UTC moment from Shanghai local time ``YYYY-MM-DD HH:MM``."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
