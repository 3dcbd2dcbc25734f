"""Parcel API on the shared ``/api/v1`` blueprint.

- ``GET /api/v1/parcels/<tracking>``: public, the same answer as the look-up page (no
  personal details): 200 with ``affected`` true/false, 400 with a message when malformed.
  Cacheable like the public pages.
- ``POST /api/v1/incidents/<ref>/parcels``: carrier systems push parcels (token with
  ``parcels:write``). Body: a JSON list of objects (file column names), or
  ``{"mode": "add"|"replace", "parcels": [...]}``. Answers with the batch and its rejects.
"""

from __future__ import annotations

import json

from flask import current_app, jsonify, request
from flask_babel import gettext as _

from portal.api import bp
from portal.api.auth import require_token
from portal.extensions import db
from portal.incidents.http import serve_public
from portal.limits import rate_limit
from portal.parcels import queries, services
from portal.parcels.importer import read_rejects
from portal.parcels.models import ImportMode

JSON_TYPE = "application/json"


def _error(status: int, message: str):
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    return response


def _listing(parcel) -> dict:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    incident = parcel.incident
    return {
        "incident": incident.reference,
        "incident_url": f"{base}/incidents/{incident.reference}",
        "incident_state": incident.state,
        "situation": parcel.situation,
        "expected_delivery": parcel.expected_delivery.isoformat()
        if parcel.expected_delivery else None,
        "carrier": parcel.carrier,
    }


@bp.get("/parcels/<path:number>")
@rate_limit("RATELIMIT_PARCEL_LOOKUP")
def parcel_status(number: str):
    """Is this parcel on an affected list? (No personal details.)"""
    line = queries.lookup_one(number[:100])
    if line.status == queries.MALFORMED:
        return _error(400, line.message or _("Not a valid tracking number."))

    def render() -> str:
        body = {"tracking_number": line.number, "affected": line.status == queries.AFFECTED,
                "carrier_guess": line.carrier,
                "listings": [_listing(p) for p in line.listings]}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    return serve_public(f"api/parcels/{line.number}", render, JSON_TYPE)


def _batch_json(batch) -> dict:
    return {
        "batch": batch.id, "status": batch.status, "mode": batch.mode,
        "rows": batch.total_rows, "inserted": batch.inserted, "updated": batch.updated,
        "unchanged": batch.unchanged, "rejected": batch.rejected,
        "deactivated": batch.deactivated,
        "rejects": [{"item": int(r["line"]), "tracking_number": r["tracking_number"],
                     "reason": r["reason"]} for r in read_rejects(batch.rejects_path, 1000)],
    }


@bp.post("/incidents/<reference>/parcels")
@require_token("parcels:write")
def push_parcels(reference: str):
    """Add (or replace) an incident's affected parcels from a JSON list."""
    incident = services.find_incident(reference)
    if incident is None:
        db.session.commit()  # keep the token-use audit entry
        return _error(404, _("No incident with this reference."))
    body = request.get_json(silent=True)
    mode = request.args.get("mode", ImportMode.ADD)
    items = body
    if isinstance(body, dict):
        mode = body.get("mode", mode)
        items = body.get("parcels")
    if not isinstance(items, list):
        db.session.commit()
        return _error(400, _("Send a JSON list of parcels, or an object with a \"parcels\" "
                             "list."))
    if mode not in (ImportMode.ADD, ImportMode.REPLACE):
        db.session.commit()
        return _error(400, _("The mode is \"add\" or \"replace\"."))
    try:
        batch = services.import_items(incident, items, mode)
    except services.ParcelError as error:
        db.session.rollback()
        return _error(400 if error.code != "too_many" else 413, error.message)
    body = _batch_json(batch)
    db.session.commit()
    return jsonify(body), 200
