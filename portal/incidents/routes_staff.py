"""Staff pages: dashboard, declare, edit, draft and publish updates, preview, corrections,
withdrawals, resolve, internal notes and update templates.

Thin: each view checks a permission, validates a form, calls one service and commits.
Responders draft; commanders (and administrators) publish.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields import SelectChoice

from portal.content import make_translated
from portal.extensions import db
from portal.incidents import queries, services, stale
from portal.incidents.forms import (
    ConfirmForm,
    IncidentForm,
    NoteForm,
    UpdateForm,
)
from portal.incidents.labels import ERROR_MESSAGES
from portal.incidents.models import AreaKind, IncidentUpdate, UpdateTemplate
from portal.staff.models import Role
from portal.staff.permissions import require_permission

bp = Blueprint("incidents", __name__, url_prefix="/staff/incidents")


# --- helpers -------------------------------------------------------------------------------

def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))


def _to_utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=_zone()).astimezone(UTC) if value else None


def _to_local(value: datetime | None) -> datetime | None:
    return value.astimezone(_zone()).replace(tzinfo=None) if value else None


def _incident_or_404(reference: str):
    incident = queries.find(reference)
    if incident is None:
        abort(404)
    return incident


def _update_or_404(incident, update_id: int) -> IncidentUpdate:
    update = db.session.get(IncidentUpdate, update_id)
    if update is None or update.incident_id != incident.id:
        abort(404)
    return update


def _parse_areas(kind: str, text: str | None) -> list[services.AreaInput]:
    areas = []
    for line in (text or "").splitlines():
        chinese, _sep, english = line.partition("|")
        if chinese.strip() or english.strip():
            areas.append(services.AreaInput(kind, chinese.strip() or english.strip(),
                                            english.strip()))
    return areas


def _areas_text(incident, kind: str) -> str:
    return "\n".join(
        (a.name or {}).get("zh_Hans", a.code) + (
            " | " + a.name["en"] if (a.name or {}).get("en") else "")
        for a in incident.areas if a.kind == kind)


def _translated(form, prefix: str, previous: dict | None = None) -> dict:
    return make_translated(getattr(form, f"{prefix}_zh_hans").data,
                           getattr(form, f"{prefix}_zh_hant").data,
                           getattr(form, f"{prefix}_en").data, previous=previous)


def _fill_translated(form, prefix: str, value: dict | None) -> None:
    value = value or {}
    getattr(form, f"{prefix}_zh_hans").data = value.get("zh_Hans", "")
    getattr(form, f"{prefix}_zh_hant").data = value.get("zh_Hant", "")
    getattr(form, f"{prefix}_en").data = value.get("en", "")


def _commander_choices() -> list[SelectChoice]:
    users = queries.commanders()
    return [SelectChoice(0, _("(none)"))] + [SelectChoice(u.id, u.name or u.email)
                                              for u in users]


def _error(error: services.IncidentError) -> None:
    flash(str(ERROR_MESSAGES.get(error.code, error.code)), "error")


def _back(incident):
    return redirect(url_for("incidents.detail", reference=incident.reference))


# --- dashboard and detail ------------------------------------------------------------------

@bp.get("/")
@require_permission("incidents.view_internal")
def dashboard():
    """Active incidents (stale ones flagged) and the recently resolved."""
    active, resolved = queries.staff_dashboard()
    flagged = {i.id for i in active if stale.is_stale(i)}
    return render_template("incidents/staff/dashboard.html", active=active,
                           resolved=resolved, stale=flagged, stale_minutes=stale.stale_minutes)


@bp.get("/<reference>")
@require_permission("incidents.view_internal")
def detail(reference: str):
    """Everything about one incident, drafts and internal notes included."""
    incident = _incident_or_404(reference)
    return render_template(
        "incidents/staff/detail.html", incident=incident, note_form=NoteForm(),
        confirm_form=ConfirmForm(), reach=services.count_reach(incident),
        is_stale=stale.is_stale(incident), stale_minutes=stale.stale_minutes(incident.severity),
        authors=queries.authors_of(incident))


@bp.get("/<reference>/preview")
@require_permission("incidents.view_internal")
def preview(reference: str):
    """The public page as it will look with the draft updates published."""
    incident = _incident_or_404(reference)
    timeline = sorted(incident.updates, key=lambda u: (u.published_at or u.created_at, u.id),
                      reverse=True)
    return render_template("incidents/incident.html", incident=incident, timeline=timeline,
                           preview=True)


# --- declare and edit ----------------------------------------------------------------------

def _save_incident(form: IncidentForm, incident=None):
    areas = (_parse_areas(AreaKind.REGION, form.regions.data)
             + _parse_areas(AreaKind.HUB, form.hubs.data)
             + _parse_areas(AreaKind.SERVICE, form.services.data))
    offer = _translated(form, "offer", incident.standing_offer if incident else None)
    offer = offer if any(offer.get(k) for k in ("zh_Hans", "en")) else None
    fields = {
        "title": _translated(form, "title", incident.title if incident else None),
        "summary": _translated(form, "summary", incident.summary if incident else None),
        "type": form.type.data, "severity": form.severity.data, "areas": areas,
        "expected_recovery_at": _to_utc(form.expected_recovery_at.data),
        "commander_id": form.commander_id.data or None, "standing_offer": offer,
    }
    if incident is None:
        return services.declare(current_user, started_at=_to_utc(form.started_at.data),
                                drill=form.drill.data, **fields)
    return services.edit(current_user, incident,
                         started_at=_to_utc(form.started_at.data) or incident.started_at,
                         standing_offer_policy=incident.standing_offer_policy, **fields)


@bp.route("/new", methods=["GET", "POST"])
@require_permission("incidents.declare")
def declare():
    """Declare an incident (a draft, or a drill)."""
    form = IncidentForm()
    form.commander_id.choices = _commander_choices()
    if request.method == "GET" and current_user.role == Role.COMMANDER:
        form.commander_id.data = current_user.id
    if form.validate_on_submit():
        incident = _save_incident(form)
        db.session.commit()
        flash(_("Incident %(ref)s declared as a draft. Nothing is public yet.",
                ref=incident.reference), "success")
        return _back(incident)
    return render_template("incidents/staff/incident_form.html", form=form, incident=None)


@bp.route("/<reference>/edit", methods=["GET", "POST"])
@require_permission("incidents.declare")
def edit(reference: str):
    """Change an incident's facts (public pages are refreshed at once)."""
    incident = _incident_or_404(reference)
    form = IncidentForm()
    form.commander_id.choices = _commander_choices()
    del form.drill
    if request.method == "GET":
        _fill_translated(form, "title", incident.title)
        _fill_translated(form, "summary", incident.summary)
        _fill_translated(form, "offer", incident.standing_offer)
        form.type.data, form.severity.data = incident.type, incident.severity
        form.regions.data = _areas_text(incident, AreaKind.REGION)
        form.hubs.data = _areas_text(incident, AreaKind.HUB)
        form.services.data = _areas_text(incident, AreaKind.SERVICE)
        form.started_at.data = _to_local(incident.started_at)
        form.expected_recovery_at.data = _to_local(incident.expected_recovery_at)
        form.commander_id.data = incident.commander_id or 0
    if form.validate_on_submit():
        _save_incident(form, incident)
        db.session.commit()
        flash(_("Incident updated."), "success")
        return _back(incident)
    return render_template("incidents/staff/incident_form.html", form=form, incident=incident)


@bp.post("/<reference>/publish")
@require_permission("incidents.publish")
def publish(reference: str):
    """Publish a draft incident and its first update; notify subscribers."""
    incident = _incident_or_404(reference)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            rows = services.publish(current_user, incident, notify=form.notify.data)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Published. %(count)d notifications queued.", count=rows), "success")
    return _back(incident)


# --- updates -------------------------------------------------------------------------------

def _update_body(form, previous: dict | None = None) -> dict:
    return _translated(form, "body", previous)



@bp.post("/<reference>/resolve")
@require_permission("incidents.publish")
def resolve(reference: str):
    """Resolve with the standard wording and notify subscribers."""
    incident = _incident_or_404(reference)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            rows = services.resolve(current_user, incident, notify=form.notify.data)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Incident resolved. %(count)d notifications queued.", count=rows),
                  "success")
    return _back(incident)


@bp.post("/<reference>/notes")
@require_permission("incidents.note")
def add_note(reference: str):
    """Add an internal note."""
    incident = _incident_or_404(reference)
    form = NoteForm()
    if form.validate_on_submit():
        services.add_note(current_user, incident, form.body.data)
        db.session.commit()
        flash(_("Note added."), "success")
    else:
        flash(_("Please write something first."), "error")
    return _back(incident)


@bp.get("/templates")
@require_permission("incidents.view_internal")
def templates():
    """The standard wording per state, in three languages."""
    return render_template("incidents/staff/templates.html",
                           grouped=services.templates_by_state())


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@require_permission("incidents.templates")
def edit_template(template_id: int):
    """Change the standard wording of one template."""
    template = db.session.get(UpdateTemplate, template_id) or abort(404)
    form = UpdateForm()
    del form.notify
    if request.method == "GET":
        form.state.data = template.state
        _fill_translated(form, "body", template.body)
    if form.validate_on_submit():
        services.save_template(current_user, form.state.data, template.name,
                               _update_body(form, template.body), template)
        db.session.commit()
        flash(_("Template saved."), "success")
        return redirect(url_for("incidents.templates"))
    return render_template("incidents/staff/template_form.html", form=form, template=template)


from portal.incidents import routes_staff_updates  # noqa: E402,F401 - registers routes
