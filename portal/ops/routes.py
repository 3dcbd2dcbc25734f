"""``/healthz`` (placeholder until the ops module is written)."""

from flask import jsonify

from portal.ops import bp


@bp.get("/healthz")
def healthz():
    """Report that the app answers."""
    return jsonify(status="ok")
