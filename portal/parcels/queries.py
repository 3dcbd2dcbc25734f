"""Public read side: the look-up (affected / not listed / malformed), details after the
last-4 check, and the parcel's situation timeline.

Only parcels of *published* incidents are ever shown: drafts and drills stay internal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import verification
from portal.extensions import db
from portal.incidents.models import Incident, Visibility
from portal.parcels import tracking
from portal.parcels.models import AffectedParcel, ParcelHistory

AFFECTED = "affected"
NOT_LISTED = "not_listed"
MALFORMED = "malformed"


@dataclass
class LookupLine:
    """The answer for one pasted number."""

    raw: str
    number: str
    status: str
    message: str = ""
    carrier: str | None = None
    listings: list[AffectedParcel] = field(default_factory=list)


def _public_parcels(numbers: list[str]) -> list[AffectedParcel]:
    if not numbers:
        return []
    query = (select(AffectedParcel).join(Incident, Incident.id == AffectedParcel.incident_id)
             .where(AffectedParcel.tracking_number.in_(numbers),
                    AffectedParcel.active.is_(True),
                    Incident.visibility == Visibility.PUBLISHED)
             .options(joinedload(AffectedParcel.incident))
             .order_by(Incident.started_at.desc(), AffectedParcel.id))
    return list(db.session.scalars(query))


def lookup(text: str | None) -> tuple[list[LookupLine], bool]:
    """Answer each pasted number; also say whether the list was cut at the maximum."""
    checked, truncated = tracking.check_many(text)
    found = _public_parcels([c.number for c in checked if c.ok])
    by_number: dict[str, list[AffectedParcel]] = {}
    for parcel in found:
        by_number.setdefault(parcel.tracking_number, []).append(parcel)
    lines = []
    for item in checked:
        if not item.ok:
            lines.append(LookupLine(item.raw.strip(), item.number, MALFORMED, item.message))
        elif item.number in by_number:
            lines.append(LookupLine(item.raw.strip(), item.number, AFFECTED,
                                    carrier=item.carrier, listings=by_number[item.number]))
        else:
            lines.append(LookupLine(item.raw.strip(), item.number, NOT_LISTED,
                                    carrier=item.carrier))
    return lines, truncated


def lookup_one(raw: str) -> LookupLine:
    """Answer one number (the API)."""
    item = tracking.validate(raw)
    if not item.ok:
        return LookupLine(raw, item.number, MALFORMED, item.message)
    listings = _public_parcels([item.number])
    return LookupLine(raw, item.number, AFFECTED if listings else NOT_LISTED,
                      carrier=item.carrier, listings=listings)


@dataclass
class State:
    """A parcel's situation from ``at`` on."""

    at: datetime
    situation: str | None
    expected_delivery: date | None
    last_location: str | None
    last_seen_at: datetime | None
    active: bool


def timeline(parcel: AffectedParcel) -> list[State]:
    """The parcel's states, newest first (history rows keep the values before each change)."""
    changes = list(db.session.scalars(
        select(ParcelHistory).where(ParcelHistory.parcel_id == parcel.id)
        .order_by(ParcelHistory.id)))
    states = []
    start = parcel.created_at
    for change in changes:
        states.append(State(start, change.prev_situation, change.prev_expected_delivery,
                            change.prev_last_location, change.prev_last_seen_at,
                            change.prev_active))
        start = change.recorded_at
    states.append(State(start, parcel.situation, parcel.expected_delivery,
                        parcel.last_location, parcel.last_seen_at, parcel.active))
    return list(reversed(states))


@dataclass
class DetailsResult:
    """Outcome of a details request."""

    ok: bool
    malformed: bool = False
    locked: bool = False
    locked_until: datetime | None = None
    parcels: list[tuple[AffectedParcel, list[State]]] = field(default_factory=list)


def subject(number: str) -> str:
    """The verification subject of a tracking number (failures count per number)."""
    return f"parcel:{number}"


def details(raw_number: str, digits: str) -> DetailsResult:
    """Check the last 4 digits against the parcel's recipient and sender phones; only on
    success return the records and their timelines. A number that is not listed fails
    exactly like wrong digits (and counts towards the same lock-out). The caller commits.
    """
    item = tracking.validate(raw_number)
    if not item.ok:
        return DetailsResult(ok=False, malformed=True)
    parcels = _public_parcels([item.number])
    digests = [d for p in parcels for d in (p.recipient_tail, p.sender_tail) if d]
    result = verification.check(subject(item.number), item.number, digests, digits)
    if not result.ok:
        return DetailsResult(ok=False, malformed=result.malformed, locked=result.locked,
                             locked_until=result.locked_until)
    return DetailsResult(ok=True, parcels=[(p, timeline(p)) for p in parcels])
