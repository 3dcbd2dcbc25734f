"""Who may do what: permissions per role, and the decorator every staff route uses."""

from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from portal.staff.models import Role

# One place that says which role may do what. Features add their permissions here.
PERMISSIONS: dict[str, set[Role]] = {
    "dashboard.view": set(Role),
    "account.manage_own": set(Role),
    "staff.manage": {Role.ADMIN},
    "tokens.manage": {Role.ADMIN},
    "audit.view": {Role.ADMIN, Role.COMMANDER, Role.SUPERVISOR},
    "notifications.view_failed": {Role.ADMIN, Role.COMMANDER, Role.SUPERVISOR},
    "notifications.retry": {Role.ADMIN, Role.SUPERVISOR},
    "incidents.declare": {Role.ADMIN, Role.COMMANDER},
    "incidents.publish": {Role.ADMIN, Role.COMMANDER},
    "incidents.draft_update": {Role.ADMIN, Role.COMMANDER, Role.RESPONDER},
    "incidents.view_internal": {Role.ADMIN, Role.COMMANDER, Role.RESPONDER, Role.SUPERVISOR,
                                Role.AGENT},
    "incidents.note": {Role.ADMIN, Role.COMMANDER, Role.RESPONDER, Role.SUPERVISOR},
    "incidents.templates": {Role.ADMIN, Role.COMMANDER},
    "cases.work": {Role.ADMIN, Role.SUPERVISOR, Role.AGENT},
    "cases.supervise": {Role.ADMIN, Role.SUPERVISOR},
    "policy.manage": {Role.ADMIN},
    # queues (agent workspace): commanders read cases and approve large compensation
    "queues.view": {Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.COMMANDER},
    "queues.reveal": {Role.ADMIN, Role.SUPERVISOR, Role.AGENT},
    "queues.approve": {Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.COMMANDER},
    "queues.manage": {Role.ADMIN, Role.SUPERVISOR},
    "queues.reports": {Role.ADMIN, Role.SUPERVISOR, Role.COMMANDER},
    "parcels.view": set(Role),
    "parcels.import": {Role.ADMIN, Role.COMMANDER, Role.RESPONDER},
}


def has_permission(user, permission: str) -> bool:
    """True when ``user`` (a StaffUser or anonymous) holds ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        role = Role(user.role)
    except ValueError:
        return False
    return role in PERMISSIONS[permission]


def require_permission(permission: str):
    """Decorate a staff view: sign-in required, then ``permission`` (else 403)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator
