"""Staff accounts: passwords (argon2), sign-in with lock-out, roles, activation.

Every function adds and flushes; the caller (route or CLI command) commits. Every change
is written to the audit log in the same transaction.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.db import utcnow
from portal.extensions import db
from portal.staff import audit
from portal.staff.models import Role, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Cheap argon2 parameters for the test suite only (``PASSWORD_HASH_FAST=True``).
_FAST_PARAMS = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}
_hashers: dict[bool, PasswordHasher] = {}
_dummy_hashes: dict[bool, str] = {}


class StaffError(ValueError):
    """A staff operation was refused; the message is translated and safe to show."""


# --- passwords ---------------------------------------------------------------------------

def _fast() -> bool:
    return bool(current_app.config.get("PASSWORD_HASH_FAST", False))


def password_hasher() -> PasswordHasher:
    """Return the argon2 hasher: argon2's defaults, or cheap ones when PASSWORD_HASH_FAST."""
    fast = _fast()
    if fast not in _hashers:
        _hashers[fast] = PasswordHasher(**_FAST_PARAMS) if fast else PasswordHasher()
    return _hashers[fast]


def _dummy_hash() -> str:
    """A hash to verify against when no account matches, so both paths take as long."""
    fast = _fast()
    if fast not in _dummy_hashes:
        _dummy_hashes[fast] = password_hasher().hash("dummy password for timing")
    return _dummy_hashes[fast]


def validate_password(password: str, email: str) -> None:
    """Raise StaffError unless ``password`` follows the rules (length, not the email)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(_("The password must have at least %(count)d characters.",
                           count=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(_("The password is too long."))
    if password.strip().lower() == (email or "").strip().lower():
        raise StaffError(_("The password must not be the email address."))


def hash_password(password: str) -> str:
    """Return the argon2 hash of ``password``."""
    return password_hasher().hash(password)


def check_password(user: StaffUser, password: str) -> bool:
    """True when ``password`` is the user's; rehashes when the argon2 parameters changed."""
    hasher = password_hasher()
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


def _burn_time(password: str) -> None:
    """Verify against a dummy hash so a refusal takes as long as a real check."""
    with contextlib.suppress(VerificationError, InvalidHashError):
        password_hasher().verify(_dummy_hash(), password)


# --- look-ups ----------------------------------------------------------------------------

def normalise_email(email: str) -> str:
    """Return the email trimmed and lower-cased; StaffError when it is not an address."""
    email = (email or "").strip().lower()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        raise StaffError(_("Please enter a valid email address."))
    return email


def parse_role(role: str) -> Role:
    """Return the Role named ``role``; StaffError when there is no such role."""
    try:
        return Role((role or "").strip().lower())
    except ValueError:
        raise StaffError(_("Unknown role %(role)s. Choose one of: %(roles)s.", role=role,
                           roles=", ".join(r.value for r in Role))) from None


def find_user(email: str) -> StaffUser | None:
    """Return the staff member with this email (case-insensitive), or None."""
    email = (email or "").strip().lower()
    if not email:
        return None
    return db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))


def get_user(user_id: int) -> StaffUser | None:
    """Return the staff member with this id, or None."""
    return db.session.get(StaffUser, user_id)


def list_users() -> list[StaffUser]:
    """Return every staff member, active first, then by email."""
    query = select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)
    return list(db.session.scalars(query))


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    """True while the account is locked after too many failed sign-ins."""
    return user.locked_until is not None and user.locked_until > (now or utcnow())


# --- sign-in -----------------------------------------------------------------------------

@dataclass
class LoginResult:
    """The outcome of a sign-in attempt; ``user`` is set only on success."""

    user: StaffUser | None
    reason: str  # "ok", "unknown", "password", "locked", "inactive"

    @property
    def ok(self) -> bool:
        """True when the staff member may be signed in."""
        return self.user is not None


def authenticate(email: str, password: str) -> LoginResult:
    """Check a sign-in attempt, counting failures and locking the account after too many.

    Unknown emails, wrong passwords, locked and deactivated accounts all take one argon2
    verification, so the time taken does not reveal which one it was.
    """
    now = utcnow()
    user = find_user(email)
    if user is None:
        _burn_time(password)
        audit.record("staff.login_failed", actor_label="anonymous", reason="unknown",
                     email=(email or "")[:100])
        return LoginResult(None, "unknown")
    if not user.active or is_locked(user, now):
        _burn_time(password)
        reason = "inactive" if not user.active else "locked"
        audit.record("staff.login_refused", "staff_user", str(user.id),
                     actor_label="anonymous", reason=reason)
        return LoginResult(None, reason)
    if not check_password(user, password):
        _count_failure(user, now)
        return LoginResult(None, "password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("staff.login", "staff_user", str(user.id), actor=user)
    return LoginResult(user, "ok")


def _count_failure(user: StaffUser, now: datetime) -> None:
    """Count a wrong password (atomically in SQL) and lock the account at the limit."""
    user.failed_logins = StaffUser.failed_logins + 1
    db.session.flush()
    db.session.refresh(user, ["failed_logins"])
    audit.record("staff.login_failed", "staff_user", str(user.id), actor_label="anonymous",
                 reason="password", failures=user.failed_logins)
    if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
        minutes = current_app.config["LOGIN_LOCKOUT_MINUTES"]
        user.locked_until = now + timedelta(minutes=minutes)
        user.failed_logins = 0
        audit.record("staff.locked", "staff_user", str(user.id), actor_label="system",
                     minutes=minutes)
    db.session.flush()


# --- account changes ---------------------------------------------------------------------

def create_staff(email: str, role: str, password: str, name: str = "") -> StaffUser:
    """Create a staff account; StaffError for a bad email, role, password or duplicate."""
    email = normalise_email(email)
    role_value = parse_role(role).value
    validate_password(password, email)
    if find_user(email) is not None:
        raise StaffError(_("A staff account with this email already exists."))
    user = StaffUser(email=email, name=(name or "").strip()[:120], role=role_value,
                     password_hash=hash_password(password), active=True, failed_logins=0,
                     session_version=1, password_changed_at=utcnow())
    db.session.add(user)
    db.session.flush()
    audit.record("staff.created", "staff_user", str(user.id), email=email, role=role_value)
    return user


def set_password(user: StaffUser, new_password: str) -> None:
    """Set a new password and end every session of the user (bumps ``session_version``)."""
    validate_password(new_password, user.email)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.session_version = (user.session_version or 0) + 1
    db.session.flush()
    audit.record("staff.password_set", "staff_user", str(user.id))


def change_own_password(user: StaffUser, current_password: str, new_password: str) -> None:
    """Change the user's own password after checking the current one."""
    if not check_password(user, current_password):
        audit.record("staff.password_change_failed", "staff_user", str(user.id))
        raise StaffError(_("The current password is not correct."))
    if current_password == new_password:
        raise StaffError(_("The new password must differ from the current one."))
    validate_password(new_password, user.email)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.session_version = (user.session_version or 0) + 1
    db.session.flush()
    audit.record("staff.password_changed", "staff_user", str(user.id))


def _other_active_admins(user: StaffUser) -> int:
    query = select(func.count()).select_from(StaffUser).where(
        StaffUser.role == Role.ADMIN.value, StaffUser.active.is_(True), StaffUser.id != user.id)
    return db.session.scalar(query) or 0


def _keep_an_admin(user: StaffUser) -> None:
    if user.role == Role.ADMIN.value and user.active and _other_active_admins(user) == 0:
        raise StaffError(_("At least one active administrator must remain."))


def change_role(user: StaffUser, role: str) -> None:
    """Give the user another role (the last active administrator keeps theirs)."""
    new_role = parse_role(role).value
    if new_role == user.role:
        return
    if new_role != Role.ADMIN.value:
        _keep_an_admin(user)
    old_role = user.role
    user.role = new_role
    db.session.flush()
    audit.record("staff.role_changed", "staff_user", str(user.id), old=old_role, new=new_role)


def deactivate(user: StaffUser) -> None:
    """Deactivate the account and end its sessions (the last active admin stays)."""
    if not user.active:
        return
    _keep_an_admin(user)
    user.active = False
    user.session_version = (user.session_version or 0) + 1
    db.session.flush()
    audit.record("staff.deactivated", "staff_user", str(user.id))


def reactivate(user: StaffUser) -> None:
    """Let a deactivated account sign in again."""
    if user.active:
        return
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    audit.record("staff.reactivated", "staff_user", str(user.id))


def unlock(user: StaffUser) -> None:
    """Lift a sign-in lock-out and reset the failure count."""
    user.locked_until = None
    user.failed_logins = 0
    db.session.flush()
    audit.record("staff.unlocked", "staff_user", str(user.id))
