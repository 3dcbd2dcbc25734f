"""Staff pages: sign-in and out, own password, dashboard, staff administration, audit log,
API tokens. Thin: validate the form, call a service, commit, render or redirect."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.api import auth as api_auth
from portal.extensions import db
from portal.limits import rate_limit
from portal.staff import audit, bp, services
from portal.staff.forms import (
    ROLE_LABELS,
    ActionForm,
    AuditFilterForm,
    LoginForm,
    PasswordChangeForm,
    RoleForm,
    StaffCreateForm,
    TokenCreateForm,
)
from portal.staff.models import Role
from portal.staff.permissions import has_permission, require_permission


@dataclass(frozen=True)
class DashboardPanel:
    """A template included in the dashboard for staff holding ``permission``."""

    template: str
    permission: str
    order: int = 100


DASHBOARD_PANELS: list[DashboardPanel] = []


def add_dashboard_panel(template: str, permission: str, order: int = 100) -> None:
    """Let a feature show a panel (a template) on the staff dashboard."""
    panel = DashboardPanel(template, permission, order)
    if panel not in DASHBOARD_PANELS:
        DASHBOARD_PANELS.append(panel)
        DASHBOARD_PANELS.sort(key=lambda p: p.order)


def role_label(value: str) -> str:
    """Return the translated name of a role value."""
    try:
        return str(ROLE_LABELS[Role(value)])
    except ValueError:
        return value


@bp.app_context_processor
def staff_template_helpers() -> dict:
    """``can("permission")``, ``role_label(value)`` and ``logout_form`` for every template."""
    return {
        "can": lambda permission: has_permission(current_user, permission),
        "role_label": role_label,
        "logout_form": ActionForm,
    }


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a relative path on this site, else None."""
    if not target:
        return None
    target = target.strip()
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(char) < 32 for char in target)):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _start_session(user) -> None:
    """Regenerate the session (drop everything in it) and sign ``user`` in."""
    session.clear()
    login_user(user)
    session.permanent = True


# --- sign-in, sign-out, own password -----------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@rate_limit("RATELIMIT_LOGIN", methods=["POST"])
def login():
    """Sign in with email and password; lock-out after repeated failures."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        result = services.authenticate(form.email.data, form.password.data)
        if result.ok:
            target = safe_next(request.args.get("next"))
            _start_session(result.user)
            db.session.commit()
            return redirect(target or url_for("staff.dashboard"))
        db.session.commit()  # keep the failure count, lock and audit entries
        flash(_("Sign-in failed. Check the email and password. After several failed "
                "attempts an account is locked for a while."), "error")
    return render_template("staff/login.html", form=form)


@bp.post("/logout")
@require_permission("account.manage_own")
def logout():
    """Sign out (POST with a CSRF token) and forget the session."""
    audit.record("staff.logout", "staff_user", str(current_user.id))
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("staff.login"))


@bp.route("/password", methods=["GET", "POST"])
@require_permission("account.manage_own")
def password():
    """Change one's own password; every other session of the account ends."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_own_password(user, form.current_password.data,
                                         form.new_password.data)
        except services.StaffError as error:
            db.session.commit()  # keep the audit entry of a failed attempt
            form.new_password.errors.append(str(error))
        else:
            db.session.commit()
            _start_session(user)
            flash(_("Your password has been changed. Other sessions have been signed out."),
                  "success")
            return redirect(url_for("staff.dashboard"))
    return render_template("staff/password.html", form=form)


@bp.get("/")
@require_permission("dashboard.view")
def dashboard():
    """Greeting, role, links to the pages the user may use, and feature panels."""
    panels = [p for p in DASHBOARD_PANELS if has_permission(current_user, p.permission)]
    return render_template("staff/dashboard.html", panels=panels)


# --- staff administration ----------------------------------------------------------------

def _staff_or_404(user_id: int):
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users", methods=["GET", "POST"])
@require_permission("staff.manage")
def users():
    """List staff accounts and create new ones."""
    form = StaffCreateForm()
    if form.validate_on_submit():
        try:
            user = services.create_staff(form.email.data, form.role.data, form.password.data,
                                        form.name.data or "")
        except services.StaffError as error:
            db.session.rollback()
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Account %(email)s created.", email=user.email), "success")
            return redirect(url_for("staff.users"))
    return render_template("staff/users.html", form=form, users=services.list_users(),
                           is_locked=services.is_locked,
                           role_form=RoleForm, action_form=ActionForm)


def _staff_action(user_id: int, action, done_message):
    """Run ``action(user)`` for a POSTed button, commit, flash ``done_message(user)``."""
    user = _staff_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(user)
    except services.StaffError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(done_message(user), "success")
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>/role")
@require_permission("staff.manage")
def change_role(user_id: int):
    """Give a staff member another role."""
    user = _staff_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.change_role(user, form.role.data)
    except services.StaffError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Role of %(email)s changed.", email=user.email), "success")
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>/deactivate")
@require_permission("staff.manage")
def deactivate(user_id: int):
    """Deactivate an account and end its sessions."""
    return _staff_action(user_id, services.deactivate,
                         lambda user: _("Account %(email)s deactivated.", email=user.email))


@bp.post("/users/<int:user_id>/reactivate")
@require_permission("staff.manage")
def reactivate(user_id: int):
    """Reactivate an account."""
    return _staff_action(user_id, services.reactivate,
                         lambda user: _("Account %(email)s reactivated.", email=user.email))


@bp.post("/users/<int:user_id>/unlock")
@require_permission("staff.manage")
def unlock(user_id: int):
    """Lift a sign-in lock-out."""
    return _staff_action(user_id, services.unlock,
                         lambda user: _("Account %(email)s unlocked.", email=user.email))


# --- audit log ---------------------------------------------------------------------------

@bp.get("/audit")
@require_permission("audit.view")
def audit_log():
    """Audit entries, newest first, filtered, 50 per page (keyset on id)."""
    form = AuditFilterForm(request.args)
    form.validate()
    filters = {"action": form.action.data or "", "actor": form.actor.data or "",
               "target": form.target.data or ""}
    page = audit.list_entries(**filters, before=request.args.get("before", type=int))
    return render_template("staff/audit.html", form=form, page=page,
                           filters={k: v for k, v in filters.items() if v})


# --- API tokens --------------------------------------------------------------------------

@bp.route("/tokens", methods=["GET", "POST"])
@require_permission("tokens.manage")
def tokens():
    """List API tokens and create one; a new token is shown once, in this response."""
    form = TokenCreateForm()
    if form.validate_on_submit():
        try:
            token, raw = api_auth.create_token(form.name.data, form.scopes.data,
                                               created_by=current_user._get_current_object())
        except api_auth.TokenError as error:
            db.session.rollback()
            form.name.errors.append(str(error))
        else:
            db.session.commit()
            return render_template("staff/token_created.html", token=token, raw_token=raw)
    return render_template("staff/tokens.html", form=form, tokens=api_auth.list_tokens(),
                           action_form=ActionForm)


@bp.post("/tokens/<int:token_id>/revoke")
@require_permission("tokens.manage")
def revoke_token(token_id: int):
    """Revoke an API token."""
    token = api_auth.get_token(token_id)
    if token is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    api_auth.revoke_token(token)
    db.session.commit()
    flash(_("Token %(name)s revoked.", name=token.name), "success")
    return redirect(url_for("staff.tokens"))
