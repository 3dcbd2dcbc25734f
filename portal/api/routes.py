"""JSON API routes. Token-authenticated, so the whole blueprint is exempt from CSRF."""

from __future__ import annotations

from flask import g, jsonify

from portal.api import bp
from portal.api.auth import require_token
from portal.extensions import csrf, db

csrf.exempt(bp)


@bp.get("/whoami")
@require_token()
def whoami():
    """Return the name and scopes of the token that made the request."""
    token = g.api_token
    body = {"token": token.name, "prefix": token.prefix, "scopes": list(token.scopes or [])}
    db.session.commit()
    return jsonify(body)
