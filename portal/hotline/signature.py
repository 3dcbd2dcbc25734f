"""``X-Twilio-Signature`` validation with the SDK's ``RequestValidator``.

Twilio signs the exact URL it called (scheme, host, path and query string) plus the POST
form parameters with the account's auth token. Behind a TLS proxy the app sees
``http://backend/...``; with ``TRUSTED_PROXIES`` set, Werkzeug's ``ProxyFix`` (installed
by ``portal.limits``) restores the public scheme and host from ``X-Forwarded-Proto`` /
``X-Forwarded-Host``, so ``request.url`` is the public URL Twilio signed. As a second
chance the URL built from ``PUBLIC_BASE_URL`` (what the operator entered in Twilio's
console) is also accepted. Forwarded headers are never read directly: with
``TRUSTED_PROXIES=0`` a client cannot choose the URL that gets checked.

``HOTLINE_SKIP_SIGNATURE`` exists for local development only; production refuses to
start with it (``check_production``).
"""

from __future__ import annotations

from flask import current_app, request
from twilio.request_validator import RequestValidator


def candidate_urls() -> list[str]:
    """The URLs the signature may have been computed on, most likely first."""
    urls = [request.url]
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        path = request.full_path if request.query_string else request.path
        public = base + path
        if public not in urls:
            urls.append(public)
    return urls


def is_valid_request() -> bool:
    """True when the current request carries a valid Twilio signature."""
    config = current_app.config
    if config.get("HOTLINE_SKIP_SIGNATURE") and config.get("PORTAL_ENV") != "production":
        return True
    token = config.get("TWILIO_AUTH_TOKEN") or ""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    params = request.form
    return any(validator.validate(url, params, signature) for url in candidate_urls())
