"""The case page of the agent workspace, ``/staff/cases/<reference>``, and its actions.

The claims feature's own staff view (``/staff/claims/<reference>``) stays as it is; this
page shows the same case facts (customer, parcel and incident, amounts and policy,
decision steps, conversation, files, history) plus the queue side: SLA clocks beside the
legal clock, routing decisions, tags, assignment, canned replies, approval, merge.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.cases import services
from portal.cases.clock import days_left
from portal.db import utcnow
from portal.extensions import db
from portal.queues import assignment, lookups, routing, search, sla, workspace
from portal.queues.admin import AdminError, split, yuan_to_fen
from portal.queues.forms import (
    ApproveForm,
    AssignForm,
    MergeForm,
    MoveForm,
    ReplyForm,
    RevealForm,
    StateForm,
    TagForm,
)
from portal.queues.models import (
    CaseWork,
)
from portal.queues.routes_work import agent_choices, bp
from portal.references import normalise_reference
from portal.staff.permissions import has_permission, require_permission

REVEAL_KEY = "queues_revealed"


def _case(reference: str, full: bool = False):
    reference = normalise_reference(reference)[:20]
    if not full:
        case = services.by_reference(reference)
    else:  # the case page reads every collection: load them in a few round trips
        case = lookups.case_with_collections(reference)
    if case is None:
        abort(404)
    return case


def _page(case, status: int = 200, revealed: dict | None = None, **forms):
    work = db.session.get(CaseWork, case.id)
    queues = lookups.ordered_queues()
    assign_form = forms.pop("assign_form", None) or AssignForm(
        data={"assignee": str(work.assignee_id) if work and work.assignee_id else ""})
    assign_form.assignee.choices = agent_choices(_("Back to the queue"))
    move_form = forms.pop("move_form", None) or MoveForm(data={
        "queue": work.queue.slug if work and work.queue else "",
        "priority": str(work.priority) if work else "3"})
    move_form.queue.choices = [(q.slug, q.slug) for q in queues]
    reply_form = forms.pop("reply_form", None) or ReplyForm()
    canned = lookups.active_canned()
    chosen = request.args.get("canned", "")
    if chosen and not reply_form.body.data:
        reply = next((c for c in canned if c.slug == chosen), None)
        if reply is not None:
            reply_form.body.data = workspace.canned_text(reply, case, current_user)
    now = utcnow()
    context = {
        "case": case, "work": work, "clocks": sla.clocks(work, now),
        "legal_days_left": days_left(case.legal_due_at, now),
        **lookups.case_page_lists(case.id),
        "canned": canned, "revealed": revealed, "stamp": search.time_formatter(),
        "masked": {"name": workspace.mask_name(case.customer_name),
                   "phone": workspace.mask_phone(case.phone_e164),
                   "email": workspace.mask_email(case.email)},
        "limit_fen": workspace.approval_limit(current_user.role),
        "reply_form": reply_form, "assign_form": assign_form, "move_form": move_form,
        "reveal_form": forms.pop("reveal_form", None) or RevealForm(),
        "state_form": forms.pop("state_form", None) or StateForm(),
        "approve_form": forms.pop("approve_form", None) or ApproveForm(),
        "merge_form": forms.pop("merge_form", None) or MergeForm(),
        "tag_form": forms.pop("tag_form", None) or TagForm(),
    }
    return render_template("queues/case.html", **context), status


def _back(reference: str):
    return redirect(url_for(".case", reference=reference), 303)


@bp.get("/cases/<reference>")
@require_permission("queues.view")
def case(reference: str):
    """The case page."""
    return _page(_case(reference, full=True))


@bp.post("/cases/<reference>/reveal")
@require_permission("queues.reveal")
def reveal(reference: str):
    """Show the full contact details once (the reveal is logged)."""
    c = _case(reference)
    form = RevealForm()
    if not form.validate():
        return _page(c, 422, reveal_form=form)
    details = workspace.reveal(c, current_user, form.reason.data)
    db.session.commit()
    return _page(c, revealed=details)


@bp.post("/cases/<reference>/reply")
@require_permission("cases.work")
def reply(reference: str):
    """A public reply (sent to the customer, shown on the status page) or a note."""
    c = _case(reference)
    form = ReplyForm()
    if not form.validate():
        return _page(c, 422, reply_form=form)
    try:
        workspace.reply(c, form.body.data, current_user, internal=bool(form.internal.data),
                        wait=bool(form.wait.data))
    except workspace.WorkspaceError:
        db.session.rollback()
        form.body.errors.append(_("This case is closed."))
        return _page(c, 409, reply_form=form)
    db.session.commit()
    flash(_("Note added.") if form.internal.data else _("Reply sent."), "success")
    return _back(c.reference)


@bp.post("/cases/<reference>/state")
@require_permission("cases.work")
def state(reference: str):
    """Change the state (resolve, wait for the customer, close...)."""
    c = _case(reference)
    form = StateForm()
    if not form.validate():
        return _page(c, 422, state_form=form)
    try:
        workspace.change_state(c, form.state.data, current_user, form.reason.data or "")
    except workspace.WorkspaceError:
        db.session.rollback()
        form.state.errors.append(_("That change is not allowed from the current state."))
        return _page(c, 409, state_form=form)
    db.session.commit()
    return _back(c.reference)


@bp.post("/cases/<reference>/assign")
@require_permission("cases.work")
def assign(reference: str):
    """Assign to oneself (agents) or to anyone (supervisors), or back to the queue."""
    c = _case(reference)
    work = db.session.get(CaseWork, c.id) or abort(409)
    form = AssignForm()
    form.assignee.choices = agent_choices("")
    form.validate()
    raw = form.assignee.data or ""
    agent_id = int(raw) if raw.isdigit() else None
    supervisor = has_permission(current_user, "cases.supervise")
    if not supervisor and agent_id not in (None, current_user.id):
        abort(403)
    if not supervisor and agent_id is None and work.assignee_id not in (None, current_user.id):
        abort(403)
    try:
        assignment.assign(work, agent_id, current_user, reason=form.reason.data or "",
                          force=supervisor)
    except assignment.AssignmentError as error:
        db.session.rollback()
        form.assignee.errors.append(_("Not assigned: %(why)s", why=error.code))
        return _page(c, 409, assign_form=form)
    db.session.commit()
    return _back(c.reference)


@bp.post("/cases/<reference>/move")
@require_permission("cases.supervise")
def move(reference: str):
    """Move to another queue and/or change the priority (the SLA targets follow)."""
    c = _case(reference)
    form = MoveForm()
    form.queue.choices = [(q.slug, q.slug) for q in lookups.ordered_queues()]
    if not form.validate():
        return _page(c, 422, move_form=form)
    work = routing.ensure_work(c)
    target = routing.queue_by_slug(form.queue.data)
    if int(form.priority.data) != work.priority:
        work.priority = int(form.priority.data)
        services.log_event(c, "priority_changed", actor=current_user,
                           priority=work.priority, reason=form.reason.data or "")
        sla.start(work)
    if target is not None and target.id != work.queue_id:
        assignment.move_to_queue(work, target, current_user, form.reason.data or "")
    db.session.commit()
    return _back(c.reference)


@bp.post("/cases/<reference>/tags")
@require_permission("cases.work")
def tags(reference: str):
    """Add tags."""
    c = _case(reference)
    form = TagForm()
    if not form.validate():
        return _page(c, 422, tag_form=form)
    added = routing.add_tags(c.id, split(form.tags.data), "staff")
    if added:
        services.log_event(c, "tagged", actor=current_user, tags=added)
    db.session.commit()
    return _back(c.reference)


@bp.post("/cases/<reference>/approve")
@require_permission("queues.approve")
def approve(reference: str):
    """Approve and offer compensation within the role's limit (logged with who and why)."""
    c = _case(reference)
    form = ApproveForm()
    if not form.validate():
        return _page(c, 422, approve_form=form)
    try:
        amount = yuan_to_fen(form.amount.data)
        if amount is None:
            raise AdminError("amount")
        workspace.approve(c, amount, current_user, form.reason.data)
    except AdminError:
        db.session.rollback()
        form.amount.errors.append(_("Enter an amount in yuan."))
        return _page(c, 422, approve_form=form)
    except workspace.WorkspaceError as error:
        if error.code == "over_limit":
            db.session.commit()  # keep the refusal in the audit log
            form.amount.errors.append(_("Above your approval limit: a supervisor or the "
                                        "commander must approve this amount."))
            return _page(c, 403, approve_form=form)
        db.session.rollback()
        form.amount.errors.append(_("Not approved: %(why)s", why=error.code))
        return _page(c, 409, approve_form=form)
    db.session.commit()
    flash(_("Compensation approved and offered."), "success")
    return _back(c.reference)


@bp.post("/cases/<reference>/merge")
@require_permission("cases.work")
def merge(reference: str):
    """Merge this case into another (this one is closed)."""
    c = _case(reference)
    form = MergeForm()
    target = None
    if form.validate():
        target = services.by_reference(normalise_reference(form.target.data)[:20])
        if target is None:
            form.target.errors.append(_("No case with that reference."))
    if target is None:
        return _page(c, 422, merge_form=form)
    try:
        workspace.merge(c, target, current_user, form.reason.data or "")
    except workspace.WorkspaceError as error:
        db.session.rollback()
        form.target.errors.append(_("Not merged: %(why)s", why=error.code))
        return _page(c, 409, merge_form=form)
    db.session.commit()
    flash(_("Merged into %(ref)s.", ref=target.reference), "success")
    return _back(target.reference)
