"""Staff pages for an incident's updates: draft, edit, publish, discard, correct, withdraw.

Registered on the incidents staff blueprint (``routes_staff.bp``).
"""

from __future__ import annotations

from flask import flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import db
from portal.incidents import services
from portal.incidents.forms import ConfirmForm, CorrectionForm, ReasonForm, UpdateForm
from portal.incidents.models import State
from portal.incidents.routes_staff import (
    _back,
    _error,
    _fill_translated,
    _incident_or_404,
    _translated,
    _update_body,
    _update_or_404,
    bp,
)
from portal.staff.permissions import require_permission


@bp.route("/<reference>/updates/new", methods=["GET", "POST"])
@require_permission("incidents.draft_update")
def new_update(reference: str):
    """Draft an update, starting from the standard wording of the chosen state."""
    incident = _incident_or_404(reference)
    form = UpdateForm()
    if request.method == "GET":
        state = request.args.get("state", incident.state)
        form.state.data = state if state in {s.value for s in State} else incident.state
        _fill_translated(form, "body", services.default_template(form.state.data).body)
    if form.validate_on_submit():
        try:
            services.draft_update(current_user, incident, state=form.state.data,
                                  body=_update_body(form), notify=form.notify.data)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Update saved as a draft. A commander publishes it."), "success")
            return _back(incident)
    return render_template("incidents/staff/update_form.html", form=form, incident=incident,
                           update=None, templates=services.templates_by_state())


@bp.route("/<reference>/updates/<int:update_id>/edit", methods=["GET", "POST"])
@require_permission("incidents.draft_update")
def edit_update(reference: str, update_id: int):
    """Change a draft update."""
    incident = _incident_or_404(reference)
    update = _update_or_404(incident, update_id)
    form = UpdateForm(obj=None)
    if request.method == "GET":
        form.state.data, form.notify.data = update.state, update.notify
        _fill_translated(form, "body", update.body)
    if form.validate_on_submit():
        try:
            services.edit_draft(current_user, update, state=form.state.data,
                                body=_update_body(form, update.body), notify=form.notify.data)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Draft saved."), "success")
            return _back(incident)
    return render_template("incidents/staff/update_form.html", form=form, incident=incident,
                           update=update, templates=services.templates_by_state())


@bp.post("/<reference>/updates/<int:update_id>/publish")
@require_permission("incidents.publish")
def publish_update(reference: str, update_id: int):
    """Publish a draft update."""
    incident = _incident_or_404(reference)
    update = _update_or_404(incident, update_id)
    if ConfirmForm().validate_on_submit():
        try:
            rows = services.publish_update(current_user, update)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Update published. %(count)d notifications queued.", count=rows),
                  "success")
    return _back(incident)


@bp.post("/<reference>/updates/<int:update_id>/discard")
@require_permission("incidents.draft_update")
def discard_update(reference: str, update_id: int):
    """Delete a draft update."""
    incident = _incident_or_404(reference)
    update = _update_or_404(incident, update_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.discard_draft(current_user, update)
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Draft discarded."), "success")
    return _back(incident)


@bp.route("/<reference>/updates/<int:update_id>/correct", methods=["GET", "POST"])
@require_permission("incidents.publish")
def correct_update(reference: str, update_id: int):
    """Correct a published update (the page shows it was corrected)."""
    incident = _incident_or_404(reference)
    update = _update_or_404(incident, update_id)
    form = CorrectionForm()
    del form.notify
    if request.method == "GET":
        form.state.data = update.state
        _fill_translated(form, "body", update.body)
    if form.validate_on_submit():
        try:
            services.correct_update(current_user, update, body=_update_body(form, update.body),
                                    note=_translated(form, "reason"))
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Correction published."), "success")
            return _back(incident)
    return render_template("incidents/staff/reason_form.html", form=form, incident=incident,
                           update=update, action="correct")


@bp.route("/<reference>/updates/<int:update_id>/withdraw", methods=["GET", "POST"])
@require_permission("incidents.publish")
def withdraw_update(reference: str, update_id: int):
    """Withdraw a published update (the page shows it was withdrawn)."""
    incident = _incident_or_404(reference)
    update = _update_or_404(incident, update_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            services.withdraw_update(current_user, update, reason=_translated(form, "reason"))
        except services.IncidentError as error:
            _error(error)
        else:
            db.session.commit()
            flash(_("Update withdrawn."), "success")
            return _back(incident)
    return render_template("incidents/staff/reason_form.html", form=form, incident=incident,
                           update=update, action="withdraw")
