"""Helpers shared by the parcel tests (no tests in here).

Import them with ``from test_parcels_support import ...``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db

DATA = Path(__file__).resolve().parent / "data" / "parcels"

# Valid numbers of several carriers (DOMAIN.md formats).
SF = "SF7444400048449"
JT = "JT0006968326954"
JD = "JDVA11408814483"
S10 = "EA123456785CN"
POST = "1240921381750"
STO = "77316523125896"
BAD_CHECK = "EA123456789CN"


def make_incident(app, publish: bool = True, drill: bool = False) -> str:
    """Declare (and publish) an incident as a commander; return its reference."""
    from portal.content import make_translated
    from portal.incidents import services
    from portal.staff import services as staff
    from portal.staff.models import StaffUser

    with app.app_context():
        actor = db.session.scalar(select(StaffUser).where(StaffUser.role == "commander"))
        if actor is None:
            actor = staff.create_staff("commander-parcels@example.com", "commander",
                                       "correct horse battery staple")
        incident = services.declare(
            actor, title=make_translated("深圳分拨中心火灾", "", "Fire at the Shenzhen hub"),
            summary=make_translated("分拨中心起火。", "", "A fire at the hub."),
            type="fire", severity="major",
            areas=[services.AreaInput("hub", "深圳分拨中心", "Shenzhen hub")], drill=drill)
        if publish:
            services.publish(actor, incident)
        db.session.commit()
        return incident.reference


def csv_bytes(rows: list[list], header: list[str] | None = None, encoding: str = "utf-8",
              bom: bool = False) -> bytes:
    """A CSV file's bytes."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def import_file(app, reference: str, path: Path, mode: str = "add", file_name: str = ""):
    """Import a file through the services, as the CLI does; return the batch's fields."""
    from portal.parcels import services
    from portal.parcels.tasks import run_batch_job

    with app.app_context():
        incident = services.find_incident(reference)
        batch = services.create_batch(incident, mode=mode, source="cli",
                                      file_name=file_name or path.name, actor_label="test")
        services.store_file(batch, path)
        db.session.commit()
        batch_id = batch.id
    with app.app_context():
        run_batch_job(batch_id)
        return batch_fields(app, batch_id)


def batch_fields(app, batch_id: int) -> dict:
    """A batch's columns as a dict."""
    from portal.parcels.models import ParcelImport

    with app.app_context():
        batch = db.session.get(ParcelImport, batch_id)
        return {c.name: getattr(batch, c.name) for c in ParcelImport.__table__.columns}


def parcels(app, reference: str | None = None) -> dict[str, dict]:
    """Every parcel (of one incident) by tracking number, as dicts."""
    from portal.incidents.models import Incident
    from portal.parcels.models import AffectedParcel

    with app.app_context():
        query = select(AffectedParcel).order_by(AffectedParcel.id)
        if reference:
            query = query.join(Incident).where(Incident.reference == reference)
        return {p.tracking_number: {c.name: getattr(p, c.name)
                                    for c in AffectedParcel.__table__.columns
                                    if c.name not in ("id", "created_at", "updated_at")}
                for p in db.session.scalars(query)}


def history(app, number: str) -> list[dict]:
    """History rows of a number, oldest first."""
    from portal.parcels.models import AffectedParcel, ParcelHistory

    with app.app_context():
        rows = db.session.scalars(
            select(ParcelHistory).join(AffectedParcel,
                                       AffectedParcel.id == ParcelHistory.parcel_id)
            .where(AffectedParcel.tracking_number == number).order_by(ParcelHistory.id))
        return [{c.name: getattr(h, c.name) for c in ParcelHistory.__table__.columns}
                for h in rows]


def rejects(batch: dict) -> list[dict]:
    """The rejected rows of a batch, from its CSV."""
    with open(batch["rejects_path"], encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))
