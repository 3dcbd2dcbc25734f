"""A minimal staff view of cases and the policy table (the queues feature builds the agent
workspace at ``/staff/cases``). Each view checks a permission, validates, calls one
service, commits."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from portal.cases import evidence, lifecycle, policy_admin, services
from portal.cases.forms import OfferForm, PaymentForm, StaffReplyForm, StateForm, parse_yuan
from portal.cases.models import Case, CaseEvidence, EvidenceState
from portal.cases.policy_form import PolicyForm, parse_rules, rules_text
from portal.content import make_translated
from portal.extensions import db
from portal.staff.permissions import require_permission

bp = Blueprint("cases_staff", __name__, url_prefix="/staff/claims")


def _case(reference: str) -> Case:
    case = services.by_reference(reference)
    if case is None:
        abort(404)
    return case


def _page(case: Case, **forms):
    defaults = {"reply_form": StaffReplyForm(), "offer_form": OfferForm(),
                "payment_form": PaymentForm(), "state_form": StateForm()}
    defaults.update(forms)
    return render_template("cases/staff/case.html", case=case, **defaults)


@bp.get("/")
@require_permission("cases.work")
def index():
    """The 50 newest cases (the queues feature replaces this with real queues)."""
    cases = services.newest_cases(50)
    return render_template("cases/staff/index.html", cases=cases)


@bp.get("/<reference>")
@require_permission("cases.work")
def case(reference: str):
    """One case: customer, parcel, amounts, decision steps, conversation, files, history."""
    return _page(_case(reference))


@bp.post("/<reference>/reply")
@require_permission("cases.work")
def reply(reference: str):
    """A public reply or an internal note."""
    case = _case(reference)
    form = StaffReplyForm()
    if not form.validate():
        return _page(case, reply_form=form), 422
    try:
        if form.internal.data:
            lifecycle.internal_note(case, form.body.data, current_user)
        else:
            lifecycle.staff_reply(case, form.body.data, current_user,
                                  wait_for_customer=bool(form.wait.data))
    except lifecycle.CaseError:
        db.session.rollback()
        form.body.errors.append(_("This case is closed."))
        return _page(case, reply_form=form), 409
    db.session.commit()
    return redirect(url_for(".case", reference=reference), 303)


@bp.post("/<reference>/offer")
@require_permission("cases.work")
def offer(reference: str):
    """Offer an amount to the customer."""
    case = _case(reference)
    form = OfferForm()
    amount = None
    if form.validate():
        try:
            amount = parse_yuan(form.amount.data)
        except ValueError:
            form.amount.errors.append(_("Enter an amount in yuan."))
    if amount is None:
        return _page(case, offer_form=form), 422
    try:
        lifecycle.offer(case, amount, current_user, form.reason.data)
    except lifecycle.CaseError as error:
        db.session.rollback()
        form.amount.errors.append(error.explanation())
        return _page(case, offer_form=form), 409
    db.session.commit()
    return redirect(url_for(".case", reference=reference), 303)


@bp.post("/<reference>/pay")
@require_permission("cases.supervise")
def pay(reference: str):
    """Record the payment of an accepted offer."""
    case = _case(reference)
    form = PaymentForm()
    if not form.validate():
        return _page(case, payment_form=form), 422
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
    paid_on = datetime.combine(form.paid_on.data, time(12), tzinfo=zone).astimezone(UTC)
    try:
        lifecycle.record_payment(case, current_user, paid_on=paid_on, method=form.method.data,
                                 reference=form.reference.data)
    except lifecycle.CaseError as error:
        db.session.rollback()
        form.reference.errors.append(error.explanation())
        return _page(case, payment_form=form), 409
    db.session.commit()
    return redirect(url_for(".case", reference=reference), 303)


@bp.post("/<reference>/state")
@require_permission("cases.work")
def state(reference: str):
    """Change the case's state."""
    case = _case(reference)
    form = StateForm()
    if not form.validate():
        return _page(case, state_form=form), 422
    try:
        lifecycle.change_state(case, form.state.data, actor=current_user, reason=form.reason.data)
    except lifecycle.CaseError:
        db.session.rollback()
        form.state.errors.append(_("That change is not allowed from the current state."))
        return _page(case, state_form=form), 409
    db.session.commit()
    return redirect(url_for(".case", reference=reference), 303)


@bp.get("/<reference>/files/<int:evidence_id>")
@require_permission("cases.work")
def file(reference: str, evidence_id: int):
    """Download one evidence file (re-encoded images; PDFs as received)."""
    case = _case(reference)
    row = db.session.get(CaseEvidence, evidence_id)
    if row is None or row.case_id != case.id or row.state != EvidenceState.READY:
        abort(404)
    response = Response(evidence.read(row), content_type=row.content_type)
    response.headers["Content-Disposition"] = "attachment"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/policy", methods=["GET", "POST"])
@require_permission("cases.work")
def policy():
    """The policy table: read by staff; administrators draft a new version."""
    current = policy_admin.version_in_force()
    form = PolicyForm()
    if request.method == "GET":
        form.rules.data = rules_text(policy_admin.rule_inputs_of(current))
    if request.method == "POST":
        from portal.staff.permissions import has_permission

        if not has_permission(current_user, "policy.manage"):
            abort(403)
        if form.validate():
            try:
                rules = parse_rules(form.rules.data)
                zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
                effective = datetime.combine(form.effective_on.data, time(0), tzinfo=zone)
                version = policy_admin.create_version(
                    form.name.data, effective.astimezone(UTC), rules,
                    force_majeure=bool(form.force_majeure.data),
                    summary=make_translated(form.summary_zh_hans.data, form.summary_zh_hant.data,
                                            form.summary_en.data), actor=current_user)
                policy_admin.publish_version(version, actor=current_user)
            except (ValueError, policy_admin.PolicyError) as error:
                db.session.rollback()
                form.rules.errors.append(_("Not published: %(why)s", why=str(error)))
            else:
                db.session.commit()
                flash(_("Policy version published."), "success")
                return redirect(url_for(".policy"), 303)
    versions = policy_admin.all_versions()
    return render_template("cases/staff/policy.html", current=current, versions=versions,
                           rules=policy_admin.rules_of(current), form=form,
                           upcoming=policy_admin.upcoming_versions()), (
        422 if form.errors else 200)
