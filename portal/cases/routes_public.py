"""Public pages of the claims feature: the form, the confirmation, the status page, the
"find my case" page and the rating page.

Stable URLs: ``/claims/new`` (``?tracking=``), ``/claims/<reference>``,
``/claims/<reference>/rate``, ``/claims/find``. Thin: validate, call one service, commit,
render or redirect. Access to a case is remembered in the (signed) session for a while
after the digits check or a signed link.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from portal.cases import access, evidence, lifecycle, services, tasks
from portal.cases.forms import (
    AnswerForm,
    ClaimForm,
    MessageForm,
    RatingForm,
    RecoverForm,
    VerifyForm,
)
from portal.cases.models import CaseState, DecisionStep
from portal.cases.policy_admin import rules_of, upcoming_versions, version_in_force
from portal.cases.views import case_view, error_text, has_uploads, uploads_from
from portal.db import begin_write
from portal.extensions import db
from portal.i18n import current_language
from portal.limits import hit, rate_limit
from portal.references import normalise_reference

bp = Blueprint("cases", __name__, url_prefix="/claims")
ACCESS_KEY = "case_access"


def _grant(reference: str) -> None:
    minutes = int(current_app.config.get("CASES_ACCESS_MINUTES", 60))
    granted = {ref: until for ref, until in session.get(ACCESS_KEY, {}).items()
               if until > time.time()}
    granted[reference] = int(time.time()) + minutes * 60
    session[ACCESS_KEY] = dict(sorted(granted.items(), key=lambda kv: kv[1])[-10:])


def _has_access(reference: str) -> bool:
    return session.get(ACCESS_KEY, {}).get(reference, 0) > time.time()


def _lang() -> dict:
    return {"lang": current_language()}


def _submission(form: ClaimForm, token: str, files) -> services.Submission:
    return services.Submission(
        kind=form.derived_kind(), type=form.type.data, customer_name=form.customer_name.data.strip(),  # noqa: E501
        phone_e164=form.phone_e164, description=form.description.data.strip(),
        submission_token=token, email=form.email.data or None,
        language=form.language.data or current_language(),
        preferred_channel=form.preferred_channel.data or "sms",
        tracking_number=form.tracking_number.data or None,
        service_line=form.service_line.data or None,
        claimed_fen=form.amounts.get("claimed"),
        declared_value_fen=form.amounts.get("declared_value"),
        insured=bool(form.insured.data), freight_fen=form.amounts.get("freight"),
        damaged_percent=form.damaged_percent.data, consent=bool(form.consent.data),
        evidence=files)


def _accept_files(form, field, token: str | None,
                  has_drafts: bool = True) -> tuple[list, list[str]]:
    """Accept the uploaded files; refused ones become messages next to the field.

    ``has_drafts``: False when no files are known to be kept under the token."""
    accepted, problems = [], []
    uploads = uploads_from(field.data)
    already = len(services.draft_evidence(token)) if token and uploads and has_drafts else 0
    limit = int(current_app.config.get("CASES_EVIDENCE_MAX_FILES", 5))
    for upload in uploads:
        if already + len(accepted) >= limit:
            problems.append(_("At most %(n)d files.", n=limit))
            break
        try:
            accepted.append(evidence.accept(upload))
        except evidence.EvidenceError as error:
            problems.append(error_text(error))
    return accepted, problems


@bp.route("/new", methods=["GET", "POST"])
@rate_limit("RATELIMIT_CASE_SUBMIT", methods=["POST"])
def new():
    """The claim form; "check" shows the policy's estimate, "submit" files the case."""
    if request.method == "GET":
        return blank_form(request.args.get("tracking") or "", request.args.get("type"))
    form = ClaimForm()
    token = (form.submission_token.data or "")[:64] or services.new_submission_token()
    form.submission_token.data = token
    valid = form.validate()
    filing = valid and bool(form.phone_e164) and request.form.get("action") != "estimate"
    files, problems = [], []
    if filing and not has_uploads(form.evidence.data):
        # The common case, a claim without files: one statement reads all that filing
        # needs, the earlier outcome of this token included. SQLite: the write lock is
        # taken first, so that no other claim is filed between the look and the writes.
        begin_write(db.session)
        submission = _submission(form, token, [])
        earlier, look = services.look_before_filing(submission)
        if earlier is not None:
            return _after_submit(earlier)
        if _phone_allowed(form):
            submission.has_drafts = look.has_drafts
            return _file(form, token, [], submission=submission, look=look)
    else:
        earlier, has_drafts = services.token_state(token)
        if earlier is not None:
            return _after_submit(earlier)
        files, problems = _accept_files(form, form.evidence, token, has_drafts)
        form.evidence.errors = list(form.evidence.errors) + problems
        if filing and not problems and _phone_allowed(form):
            # SQLite: the write lock is taken here, after parsing, validation and the
            # files, so concurrent claims queue behind one another for less time.
            begin_write(db.session)
            return _file(form, token, files, has_drafts)
    services.keep_draft_evidence(token, files)
    db.session.commit()
    tasks.enqueue_pending([f.id for f in files])
    estimate = incident = None
    if valid and not form.errors and request.form.get("action") == "estimate":
        estimate, incident = services.preview(_submission(form, token, []))
    status = 200 if estimate is not None else 422
    return render_template("cases/new.html", form=form, kept=services.draft_evidence(token),
                           estimate=estimate, incident=incident), status


_SENTINELS = ("PORTAL-CSRF-SENTINEL", "PORTAL-SUBMISSION-SENTINEL", "PORTAL-TRACKING-SENTINEL")
_BLANK_FORMS: dict[tuple, str] = {}


def blank_form(tracking: str, case_type: str | None):
    """The empty form. It is the same for every visitor in a language except for three
    values (CSRF token, submission token, pre-filled tracking number), so it is rendered
    once per language and process and those values are put in per request."""
    from flask_wtf.csrf import generate_csrf
    from markupsafe import escape

    cacheable = current_app.config.get("CASES_FORM_CACHE", True) and not case_type
    key = (id(current_app), current_language())
    page = _BLANK_FORMS.get(key) if cacheable else None
    if page is None:
        form = ClaimForm()
        form.language.data = current_language()
        form.submission_token.data = _SENTINELS[1] if cacheable else services.new_submission_token()
        form.tracking_number.data = _SENTINELS[2] if cacheable else tracking[:60]
        if case_type in dict(form.type.choices):
            form.type.data = case_type
        page = render_template("cases/new.html", form=form, kept=[], estimate=None,
                               csrf_value=_SENTINELS[0] if cacheable else generate_csrf())
        if not cacheable:
            return page
        _BLANK_FORMS[key] = page
    return (page.replace(_SENTINELS[0], generate_csrf())
            .replace(_SENTINELS[1], services.new_submission_token())
            .replace(_SENTINELS[2], str(escape(tracking[:60]))))


def _phone_allowed(form: ClaimForm) -> bool:
    """Count a case against the phone's limit; False (with the message next to the field)
    once it is reached."""
    if hit("RATELIMIT_CASE_PHONE", "case-phone", form.phone_e164):
        return True
    form.phone.errors.append(_("Too many cases from this phone number today. Please call our hotline."))  # noqa: E501
    return False


def _file(form: ClaimForm, token: str, files, has_drafts: bool = True, submission=None,
          look=None):
    """File the form (``submission``, ``look``: already built and read by the caller)."""
    try:
        if submission is None:
            submission = _submission(form, token, files)
            submission.has_drafts = has_drafts
        result = services.submit(submission, replay_checked=True, look=look)
        pending = [row.id for row in files if row.state == "pending"]
        reference, appended = result.case.reference, result.appended
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the same submission won a race: show its outcome
        result = services.find_submission(token)
        if result is None:
            raise
        return _after_submit(result)
    tasks.enqueue_pending(pending)
    return _redirect_after(reference, appended)


def _after_submit(result: services.SubmitResult):
    return _redirect_after(result.case.reference, result.appended)


def _redirect_after(reference: str, appended: bool):
    if appended:
        return redirect(url_for("cases.added", **_lang()), 303)
    _grant(reference)
    return redirect(url_for("cases.received", reference=reference, **_lang()), 303)


@bp.get("/new/added")
def added():
    """A submission was added to the customer's open case (no reference on screen)."""
    return render_template("cases/added.html")


@bp.get("/<reference>/received")
def received(reference: str):
    """The confirmation page, shown once the case is committed."""
    case = services.by_reference(reference)
    if case is None or not _has_access(reference):
        return redirect(url_for("cases.status", reference=reference, **_lang()))
    return render_template("cases/received.html", case=case, view=case_view(case))


@bp.route("/find", methods=["GET", "POST"])
@rate_limit("RATELIMIT_CASE_LOOKUP", methods=["POST"])
def find():
    """Open a case with its reference and the last 4 digits; or recover references."""
    verify_form, recover_form = VerifyForm(prefix="open"), RecoverForm(prefix="lost")
    sent = False
    if request.method == "POST" and request.form.get("action") == "recover":
        if recover_form.validate():
            if not hit("RATELIMIT_CASE_RECOVER", "case-recover-client", request.remote_addr or ""):
                abort(429)
            if access.recover(recover_form.contact.data, current_language()):
                db.session.commit()
                sent = True
            else:
                recover_form.contact.errors.append(_("Enter a valid phone number or email address."))  # noqa: E501
    elif request.method == "POST" and verify_form.validate():
        response = _verify(verify_form.reference.data, verify_form.digits.data, verify_form)
        if response is not None:
            return response
    code = 422 if request.method == "POST" and not sent else 200
    return render_template("cases/find.html", verify_form=verify_form,
                           recover_form=recover_form, sent=sent), code


def _verify(reference_text: str, digits: str, form: VerifyForm):
    begin_write(db.session)  # failures are counted: a write after the read
    result = access.verify(reference_text, digits)
    db.session.commit()
    if result.case is not None:
        _grant(result.case.reference)
        return redirect(url_for("cases.status", reference=result.case.reference, **_lang()), 303)
    if result.result.locked:
        form.digits.errors.append(_("Too many wrong tries. Please try again later or call our hotline."))  # noqa: E501
    elif result.result.malformed:
        form.digits.errors.append(_("Check the reference and enter exactly 4 digits."))
    else:
        form.digits.errors.append(_("The reference and the digits do not match."))
    return None


@bp.route("/<reference>", methods=["GET", "POST"])
@rate_limit("RATELIMIT_CASE_LOOKUP", methods=["POST"])
def status(reference: str):
    """The status page: the digits check first, unless access was granted."""
    clean = normalise_reference(reference)[:20]
    if clean != reference:
        return redirect(url_for("cases.status", reference=clean, **_lang()), 301)
    token = request.args.get("t")
    if token:
        case = access.case_from_status_token(reference, token)
        if case is not None:
            _grant(reference)
            return redirect(url_for("cases.status", reference=reference, **_lang()), 303)
    form = VerifyForm(prefix="open", data={"reference": reference})
    if request.method == "POST":
        form.reference.data = reference
        if form.validate():
            response = _verify(reference, form.digits.data, form)
            if response is not None:
                return response
        return render_template("cases/verify.html", form=form, reference=reference), 422
    if not _has_access(reference):
        return render_template("cases/verify.html", form=form, reference=reference,
                               bad_link=bool(token))
    case = services.by_reference(reference)
    if case is None:
        abort(404)
    return render_template("cases/status.html", case=case, view=case_view(case),
                           message_form=MessageForm(), answer_form=AnswerForm())


def _case_with_access(reference: str):
    case = services.by_reference(reference)
    if case is None or not _has_access(reference):
        abort(403)
    return case


@bp.post("/<reference>/message")
@rate_limit("RATELIMIT_CASE_SUBMIT")
def message(reference: str):
    """The customer adds information or files."""
    begin_write(db.session)
    case = _case_with_access(reference)
    form = MessageForm()
    if form.validate():
        files, problems = _accept_files(form, form.evidence, None)
        form.evidence.errors = list(form.evidence.errors) + problems
        if not problems and (form.body.data.strip() or files):
            try:
                lifecycle.customer_message(case, form.body.data, files)
            except lifecycle.CaseError:
                form.body.errors.append(_("This case is closed. Please start a new one."))
            else:
                db.session.commit()
                tasks.enqueue_pending([f.id for f in files if f.state == "pending"])
                return redirect(url_for("cases.status", reference=reference, sent=1, **_lang()), 303)  # noqa: E501
        elif not problems:
            form.body.errors.append(_("Write something or add a file."))
    db.session.rollback()
    return render_template("cases/status.html", case=case, view=case_view(case),
                           message_form=form, answer_form=AnswerForm()), 422


@bp.post("/<reference>/answer")
def answer(reference: str):
    """Accept or decline the current offer."""
    begin_write(db.session)
    case = _case_with_access(reference)
    form = AnswerForm()
    if form.validate() and form.answer.data in ("accept", "decline"):
        try:
            lifecycle.answer_offer(case, form.answer.data == "accept", form.reason.data)
        except lifecycle.CaseError as error:
            if error.code == "reason_required":
                form.reason.errors.append(_("Tell us why you decline, so we can look again."))
            else:
                form.reason.errors.append(_("There is no open offer to answer."))
        else:
            db.session.commit()
            return redirect(url_for("cases.status", reference=reference, **_lang()), 303)
    db.session.rollback()
    return render_template("cases/status.html", case=case, view=case_view(case),
                           message_form=MessageForm(), answer_form=form), 422


@bp.route("/<reference>/rate", methods=["GET", "POST"])
@rate_limit("RATELIMIT_CASE_SUBMIT", methods=["POST"])
def rate(reference: str):
    """One-click rating from the link in the closing message (no login)."""
    token = request.values.get("t")
    case = access.case_from_rating_token(reference, token)
    if case is None and _has_access(reference):
        case = services.by_reference(reference)
    if case is None:
        return render_template("cases/rate.html", case=None, form=None), 403
    form = RatingForm()
    if request.method == "GET" and request.args.get("score", "").isdigit():
        form.score.data = request.args["score"]
    done = False
    if request.method == "POST" and form.validate():
        try:
            lifecycle.rate(case, int(form.score.data), form.comment.data)
            db.session.commit()
            done = True
        except lifecycle.CaseError:
            db.session.rollback()
            form.score.errors.append(_("You can rate a case once it is closed."))
    return render_template("cases/rate.html", case=case, form=form, token=token, done=done,
                           closed=case.state == CaseState.CLOSED)


@bp.get("/policy")
def policy():
    """The compensation policy in force, and announced changes (Art. 22: public)."""
    version = version_in_force()
    return render_template("cases/policy.html", version=version, rules=rules_of(version),
                           upcoming=upcoming_versions(), DecisionStep=DecisionStep)
