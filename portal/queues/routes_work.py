"""The agent's queue pages: ``/staff/queues``, ``/staff/queues/<queue>`` (filters, keyset
pagination, bulk actions, take next), availability, ``/staff/search``, and cases entered
by staff (``/staff/cases/new``). Thin: validate, call a service, commit, render."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import db
from portal.queues import assignment, lookups, routing, search, workspace
from portal.queues.admin import AdminError, yuan_to_fen
from portal.queues.forms import (
    AvailabilityForm,
    BulkForm,
    StaffCaseForm,
    StandingOfferForm,
)
from portal.queues.models import AgentStatus, Queue
from portal.staff.permissions import has_permission, require_permission

bp = Blueprint("queues", __name__, url_prefix="/staff")


def queue_or_404(slug: str) -> Queue:
    """The queue with this slug."""
    queue = routing.queue_by_slug(slug[:40])
    if queue is None:
        abort(404)
    return queue


def agent_choices(empty_label: str | None = None) -> list[tuple[str, str]]:
    """Agents and supervisors for assignment selects."""
    users = lookups.assignable_staff()
    choices = [("", empty_label)] if empty_label is not None else []
    return choices + [(str(u.id), u.name or u.email) for u in users]


def row_labels() -> dict:
    """Translated labels for table rows, evaluated once per page (not once per row)."""
    from portal.cases.forms import TYPE_LABELS
    from portal.cases.views import STATE_LABELS
    from portal.queues.forms import PRIORITY_CHOICES

    return {"type": {k: str(v) for k, v in TYPE_LABELS.items()},
            "state": {k: str(v) for k, v in STATE_LABELS.items()},
            "priority": {int(k): str(v) for k, v in PRIORITY_CHOICES}}


@bp.get("/queues")
@require_permission("queues.view")
def index():
    """All queues with their backlog, the agent's availability and "take next"."""
    from portal.queues.reports import backlog

    figures = backlog()
    status = db.session.get(AgentStatus, current_user.id)
    form = AvailabilityForm(data={"available": bool(status and status.available),
                                  "capacity": status.capacity if status else None})
    mine = lookups.queue_ids_of(current_user.id)
    return render_template("queues/index.html", figures=figures, form=form, mine=mine,
                           status=status, count_text=search.count_text)


@bp.post("/queues/availability")
@require_permission("cases.work")
def availability():
    """Mark oneself available or away (away returns one's open cases to the queues)."""
    form = AvailabilityForm()
    if not form.validate():
        flash(_("Check the capacity."), "error")
        return redirect(url_for(".index"), 303)
    returned = assignment.set_availability(current_user.id, bool(form.available.data),
                                           current_user, capacity=form.capacity.data)
    db.session.commit()
    if returned:
        flash(_("%(n)s cases went back to their queues.", n=returned), "success")
    return redirect(url_for(".index"), 303)


@bp.get("/queues/<slug>")
@require_permission("queues.view")
def queue(slug: str):
    """One queue: filters, 25 rows per page after a cursor, capped count."""
    q = queue_or_404(slug)
    filters = search.Filters.parse(request.args, current_user.id)
    page = search.queue_page(q.id, filters, request.args.get("after"))
    supervise = has_permission(current_user, "cases.supervise")
    bulk = BulkForm()
    if supervise:  # the bulk form is only shown to supervisors
        bulk.assignee.choices = agent_choices(_("Back to the queue"))
    return render_template("queues/queue.html", queue=q, page=page, filters=filters,
                           bulk=bulk, offer_form=StandingOfferForm(),
                           count=search.count_text(page.count, page.capped),
                           labels=row_labels(), supervise=supervise,
                           stamp=search.time_formatter())


@bp.post("/queues/<slug>/next")
@require_permission("cases.work")
def take_next(slug: str):
    """Take the oldest highest-priority unassigned case of the queue."""
    q = queue_or_404(slug)
    try:
        work = assignment.take_next(q, current_user)
    except assignment.AssignmentError:
        db.session.rollback()
        flash(_("You are not a member of this queue."), "error")
        return redirect(url_for(".queue", slug=slug), 303)
    if work is None:
        db.session.rollback()
        flash(_("Nothing is waiting in this queue."), "info")
        return redirect(url_for(".queue", slug=slug), 303)
    reference = work.case.reference
    db.session.commit()
    return redirect(url_for("queues.case", reference=reference), 303)


@bp.post("/queues/<slug>/bulk")
@require_permission("cases.supervise")
def bulk(slug: str):
    """Assign or change the state of the selected cases."""
    queue_or_404(slug)
    form = BulkForm()
    form.assignee.choices = agent_choices("")
    references = request.form.getlist("case")[:500]
    if not form.validate() or not references:
        flash(_("Select cases and an action."), "error")
        return redirect(url_for(".queue", slug=slug), 303)
    if form.action.data == "assign":
        agent = form.assignee.data
        agent_id = int(agent) if agent and agent.isdigit() else None
        result = workspace.bulk_assign(references, agent_id, current_user)
    elif form.state.data in ("open", "waiting_customer", "resolved", "closed"):
        result = workspace.bulk_state(references, form.state.data, current_user)
    else:
        flash(_("Select cases and an action."), "error")
        return redirect(url_for(".queue", slug=slug), 303)
    db.session.commit()
    flash(_("%(done)s cases changed, %(skipped)s skipped.", done=len(result.done),
            skipped=len(result.skipped)), "success")
    return redirect(url_for(".queue", slug=slug), 303)


@bp.post("/queues/<slug>/standing-offer")
@require_permission("cases.supervise")
def standing_offer(slug: str):
    """Offer every open delay claim of an incident its standing offer."""

    queue_or_404(slug)
    form = StandingOfferForm()
    incident = None
    if form.validate():
        incident = lookups.incident_by_exact_reference(form.incident.data.strip().upper())
    if incident is None:
        flash(_("No incident with that reference."), "error")
        return redirect(url_for(".queue", slug=slug), 303)
    result = workspace.apply_standing_offer(incident.id, current_user, form.reason.data or "")
    db.session.commit()
    flash(_("Offer made on %(done)s claims, %(skipped)s skipped.", done=len(result.done),
            skipped=len(result.skipped)), "success")
    return redirect(url_for(".queue", slug=slug), 303)


@bp.get("/search")
@require_permission("queues.view")
def search_page():
    """Search by reference, tracking number, phone or email."""
    text = request.args.get("q", "")[:254]
    taken_as, cases = search.search(text)
    if taken_as == "reference" and len(cases) == 1:
        return redirect(url_for("queues.case", reference=cases[0].reference), 303)
    return render_template("queues/search.html", q=text, taken_as=taken_as, cases=cases)


def _phone(text: str) -> str | None:
    import phonenumbers
    from flask import current_app

    try:
        number = phonenumbers.parse(text, current_app.config.get("PHONE_DEFAULT_REGION", "CN"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@bp.route("/cases/new", methods=["GET", "POST"])
@require_permission("cases.work")
def new_case():
    """Enter a case from a phone call or a postal-authority forward; it is routed."""
    from portal.cases.forms import TYPE_LABELS

    form = StaffCaseForm()
    form.type.choices = [(str(k), str(v)) for k, v in TYPE_LABELS.items()]
    if request.method == "POST" and form.validate():
        phone = _phone(form.phone.data) if form.phone.data else None
        amount = None
        if form.phone.data and phone is None:
            form.phone.errors.append(_("Enter a valid phone number."))
        if not form.phone.data and not form.email.data:
            form.phone.errors.append(_("Give a phone number or an email address."))
        if form.type.data not in [key for key, _label in form.type.choices]:
            form.type.errors.append(_("Choose a type."))
        try:
            amount = yuan_to_fen(form.amount.data)
        except AdminError:
            form.amount.errors.append(_("Enter an amount in yuan."))
        if not form.errors:
            case = workspace.create_staff_case(
                actor=current_user, source=form.source.data, kind=form.kind.data,
                case_type=form.type.data, customer_name=form.customer_name.data,
                phone_e164=phone, email=(form.email.data or "").lower() or None,
                description=form.description.data, language=form.language.data,
                tracking_number=(form.tracking_number.data or "").strip().upper() or None,
                claimed_fen=amount)
            reference = case.reference
            db.session.commit()
            flash(_("Case %(ref)s created.", ref=reference), "success")
            return redirect(url_for("queues.case", reference=reference), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("queues/new_case.html", form=form), status


def can_supervise() -> bool:
    """True for supervisors (used by templates through the view)."""
    return has_permission(current_user, "cases.supervise")
