"""Staff pages: an incident's affected parcels, uploads, batch progress, rejected rows,
undo, and the template file.

Thin: check a permission, validate a form, call one service, commit. Small files are
imported in the request; larger ones are stored, committed and handed to the background
job, and the batch page shows its progress.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import db
from portal.parcels import services, tasks
from portal.parcels.forms import ConfirmForm, ImportForm
from portal.parcels.importer import read_rejects
from portal.parcels.importer.columns import ALIASES
from portal.parcels.models import ImportStatus, ParcelImport
from portal.parcels.templates import template_csv
from portal.staff.permissions import require_permission

bp = Blueprint("parcels_staff", __name__, url_prefix="/staff/parcels")


def _incident_or_404(reference: str):
    incident = services.find_incident(reference)
    if incident is None:
        abort(404)
    return incident


def _batch_or_404(batch_id: int) -> ParcelImport:
    batch = db.session.get(ParcelImport, batch_id)
    if batch is None:
        abort(404)
    return batch


@bp.get("/")
@require_permission("parcels.view")
def index():
    """Recent imports of every incident."""
    return render_template("parcels/staff/index.html", batches=services.recent_batches(50))


@bp.get("/incidents/<reference>")
@require_permission("parcels.view")
def incident(reference: str):
    """An incident's parcels per situation, the upload form and the batches."""
    found = _incident_or_404(reference)
    batches = services.batches(found.id)
    latest = services.latest_batch(found.id)
    return render_template("parcels/staff/incident.html", incident=found, form=ImportForm(),
                           undo_form=ConfirmForm(), batches=batches,
                           undoable_id=latest.id if latest is not None
                           and latest.status == ImportStatus.DONE else None,
                           counts=services.counts_by_situation(found.id), aliases=ALIASES)


@bp.post("/incidents/<reference>/import")
@require_permission("parcels.import")
def upload(reference: str):
    """Store the upload as a batch, then import it here or in the background."""
    found = _incident_or_404(reference)
    form = ImportForm()
    if not form.validate_on_submit():
        flash(_("Choose a CSV or XLSX file and a mode."), "error")
        return redirect(url_for(".incident", reference=found.reference))
    upload_file = form.file.data
    batch = services.create_batch(found, mode=form.mode.data, source="upload",
                                  file_name=Path(upload_file.filename or "upload").name,
                                  created_by_id=current_user.id)
    try:
        services.store_file(batch, upload_file)
    except services.ParcelError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".incident", reference=found.reference))
    db.session.commit()
    batch_id = batch.id
    if services.runs_in_background(batch):
        tasks.enqueue(batch_id)
    else:
        tasks.run_batch_job(batch_id)
    return redirect(url_for(".batch", batch_id=batch_id))


@bp.get("/imports/<int:batch_id>")
@require_permission("parcels.view")
def batch(batch_id: int):
    """A batch: progress while it runs, then counts and the first rejected rows."""
    found = _batch_or_404(batch_id)
    return render_template("parcels/staff/batch.html", batch=found,
                           progress=services.read_progress(found),
                           rejects=read_rejects(found.rejects_path),
                           failure=services.failure_message(found)
                           if found.status == ImportStatus.FAILED else "",
                           can_undo=services.can_undo(found), undo_form=ConfirmForm())


@bp.get("/imports/<int:batch_id>/rejected-rows.csv")
@require_permission("parcels.view")
def rejects_csv(batch_id: int):
    """Every rejected row of a batch (line, tracking number, reason)."""
    found = _batch_or_404(batch_id)
    if not found.rejects_path or not Path(found.rejects_path).exists():
        abort(404)
    return send_file(found.rejects_path, mimetype="text/csv", as_attachment=True,
                     download_name=f"rejected-rows-{found.id}.csv")


@bp.post("/imports/<int:batch_id>/undo")
@require_permission("parcels.import")
def undo(batch_id: int):
    """Undo the incident's latest batch."""
    found = _batch_or_404(batch_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        restored, deleted = services.undo(found)
    except services.ParcelError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Import undone: %(restored)s parcels restored, %(deleted)s removed.",
                restored=restored, deleted=deleted), "success")
    return redirect(url_for(".batch", batch_id=batch_id))


@bp.get("/template.csv")
@require_permission("parcels.view")
def template():
    """The import template (``?names=zh`` for Chinese column names)."""
    chinese = request.args.get("names") == "zh"
    return Response(template_csv(chinese), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=affected-parcels-template.csv"})
