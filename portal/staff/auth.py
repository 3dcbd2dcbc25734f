"""Session loading for Flask-Login."""

from __future__ import annotations

from portal.extensions import db, login_manager
from portal.staff.models import StaffUser


@login_manager.user_loader
def load_user(session_id: str) -> StaffUser | None:
    """Load the staff member of a session; stale session versions are refused."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(StaffUser, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


# ``@login_required`` views send anonymous visitors to the sign-in page, not a bare 401.
login_manager.login_view = "staff.login"
login_manager.login_message = None
