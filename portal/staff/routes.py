"""Staff pages (placeholder until the staff module is written)."""

from flask import render_template

from portal.staff import bp


@bp.get("/")
def dashboard():
    """Staff dashboard."""
    return render_template("staff/dashboard.html")
