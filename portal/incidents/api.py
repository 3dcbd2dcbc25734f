"""Read-only JSON API for public incidents, on the shared ``/api/v1`` blueprint, and its
OpenAPI description at ``/api/v1/openapi.json``.

No token is needed: it shows exactly what the public pages show, with the same caching
(ETag, ``Cache-Control``, no cookie). Texts come in all three languages.
"""

from __future__ import annotations

import json

from flask import abort, current_app, request

from portal.api import bp
from portal.incidents import queries
from portal.incidents.http import serve_public
from portal.incidents.markdown import render_markdown
from portal.incidents.models import Incident, IncidentUpdate, State, UpdateStatus
from portal.incidents.openapi import openapi_document
from portal.limits import exempt_from_limits
from portal.references import normalise_reference
from portal.templating import iso_time

JSON_TYPE = "application/json"
LANGS = ("zh_Hans", "zh_Hant", "en")
MAX_LIMIT = 100


def _text(value: dict | None) -> dict | None:
    if value is None:
        return None
    return {lang: (value or {}).get(lang, "") for lang in LANGS}


def _update(update: IncidentUpdate) -> dict:
    withdrawn = update.status == UpdateStatus.WITHDRAWN
    return {
        "id": update.id,
        "state": update.state,
        "status": update.status,
        "published_at": iso_time(update.published_at),
        "body": None if withdrawn else _text(update.body),
        "body_html": None if withdrawn else {
            lang: str(render_markdown((update.body or {}).get(lang, ""))) for lang in LANGS},
        "corrected_at": iso_time(update.corrected_at) or None,
        "correction_note": _text(update.correction_note),
        "withdrawn_at": iso_time(update.withdrawn_at) or None,
        "withdrawal_reason": _text(update.withdrawal_reason),
    }


def _incident(incident: Incident, with_updates: bool) -> dict:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    body = {
        "reference": incident.reference,
        "url": f"{base}/incidents/{incident.reference}",
        "title": _text(incident.title),
        "summary": _text(incident.summary),
        "type": incident.type,
        "severity": incident.severity,
        "state": incident.state,
        "areas": [{"kind": a.kind, "code": a.code, "name": _text(a.name)}
                  for a in incident.areas],
        "started_at": iso_time(incident.started_at),
        "expected_recovery_at": iso_time(incident.expected_recovery_at) or None,
        "resolved_at": iso_time(incident.resolved_at) or None,
        "published_at": iso_time(incident.published_at),
        "last_update_at": iso_time(incident.last_public_update_at) or None,
        "standing_offer": _text(incident.standing_offer),
    }
    if with_updates:
        body["updates"] = [_update(u) for u in queries.timeline(incident)]
    return body


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bad_request(message: str):
    abort(400, description=message)


@bp.get("/incidents")
@exempt_from_limits
def list_incidents():
    """Public incidents, newest first; ``state`` (a state or ``active``), ``area``,
    ``limit`` (1-100, default 50), ``before`` (an id, for the next page)."""
    state = request.args.get("state", "")
    if state and state != "active" and state not in {s.value for s in State}:
        _bad_request("state must be active or one of " + ", ".join(s.value for s in State))
    try:
        limit = int(request.args.get("limit", 50))
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        _bad_request("limit and before must be integers")
    if not 1 <= limit <= MAX_LIMIT:
        _bad_request(f"limit must be between 1 and {MAX_LIMIT}")
    area = request.args.get("area", "")[:120]

    def render() -> str:
        incidents = queries.public_list(state, area, limit + 1, before)
        more = len(incidents) > limit
        incidents = incidents[:limit]
        return _json({"incidents": [_incident(i, False) for i in incidents],
                      "next_before": incidents[-1].id if more and incidents else None})

    variant = f"api/incidents?state={state}&area={area}&limit={limit}&before={before}"
    return serve_public(variant, render, JSON_TYPE)


@bp.get("/incidents/<reference>")
@exempt_from_limits
def get_incident(reference: str):
    """One public incident with its timeline."""
    reference = normalise_reference(reference)

    def render() -> str:
        incident = queries.public_incident(reference)
        if incident is None:
            abort(404)
        return _json(_incident(incident, True))

    return serve_public(f"api/incident/{reference}", render, JSON_TYPE)


@bp.get("/openapi.json")
@exempt_from_limits
def openapi():
    """The OpenAPI 3.1 description of the public incidents API."""
    return serve_public("api/openapi", lambda: _json(openapi_document()), JSON_TYPE)
