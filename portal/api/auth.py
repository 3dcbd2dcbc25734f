"""API tokens for carrier systems: creation, revocation and the ``require_token`` guard.

A token is ``"pt_" + secrets.token_urlsafe(32)``. Only its SHA-256 hex digest is stored
(``token_hash``) with the first 8 characters as ``prefix`` for recognising it in lists;
the token itself is shown once, when created. Services add and flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import wraps

from flask import g, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.staff import audit
from portal.staff.models import ApiToken, StaffUser

TOKEN_PREFIX = "pt_"  # noqa: S105 - a marker, not a secret
# The fixed list of scopes a token may carry. Features add theirs here.
SCOPES: dict[str, object] = {
    "incidents:write": _l("Publish incident updates"),
    "parcels:write": _l("Import and update affected parcels"),
    "cases:read": _l("Read complaints and claims"),
    "cases:write": _l("Create and update complaints and claims"),
}


class TokenError(ValueError):
    """A token operation was refused; the message is safe to show."""


def hash_token(raw: str) -> str:
    """Return the SHA-256 hex digest stored for a raw token."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(name: str, scopes: list[str], created_by: StaffUser | None = None,
                 note: str = "") -> tuple[ApiToken, str]:
    """Create a token; return the row and the raw token (show it once, never store it)."""
    name = (name or "").strip()
    if not name:
        raise TokenError(_("Please give the token a name."))
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise TokenError(_("Unknown scope %(scope)s. Choose from: %(scopes)s.",
                           scope=", ".join(unknown), scopes=", ".join(SCOPES)))
    if not scopes:
        raise TokenError(_("Choose at least one scope."))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name[:120], prefix=raw[:8], token_hash=hash_token(raw),
                     scopes=sorted(set(scopes)), created_by=created_by, note=note)
    db.session.add(token)
    db.session.flush()
    audit.record("api.token_created", "api_token", str(token.id), name=token.name,
                 scopes=token.scopes)
    return token, raw


def list_tokens() -> list[ApiToken]:
    """Return every token, newest first (revoked ones included)."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def get_token(token_id: int) -> ApiToken | None:
    """Return the token with this id, or None."""
    return db.session.get(ApiToken, token_id)


def revoke_token(token: ApiToken) -> None:
    """Revoke the token; requests carrying it are refused from the next commit on."""
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    db.session.flush()
    audit.record("api.token_revoked", "api_token", str(token.id), name=token.name)


def find_active_token(raw: str) -> ApiToken | None:
    """Return the unrevoked token matching a raw token string, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None or token.revoked_at is not None:
        return None
    return token


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _refuse(status: int, title: str, message: str):
    body = {"error": {"status": status, "title": title, "message": message}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    else:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="insufficient_scope"'
    return response


def require_token(scope: str | None = None):
    """Decorate an API view: a valid ``Authorization: Bearer`` token (with ``scope``).

    401 JSON for a missing, unknown or revoked token; 403 JSON when it lacks ``scope``.
    On success sets ``g.api_token``, updates ``last_used_at`` and records
    ``api.token_used``; the view commits.
    """
    if scope is not None and scope not in SCOPES:
        raise KeyError(f"unknown scope {scope!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = find_active_token(_bearer())
            if token is None:
                return _refuse(401, _("Sign-in required"),
                               _("A valid API token is required."))
            if scope is not None and scope not in (token.scopes or []):
                return _refuse(403, _("Not allowed"),
                               _("This token lacks the scope %(scope)s.", scope=scope))
            g.api_token = token
            token.last_used_at = utcnow()
            audit.record("api.token_used", "api_token", str(token.id),
                         endpoint=request.endpoint, method=request.method)
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorator
