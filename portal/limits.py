"""Rate limits keyed on the real client address behind a configured number of proxies.

``TRUSTED_PROXIES`` (default 0) says how many proxies in front of the app append to
``X-Forwarded-For``; ``ProxyFix`` then rewrites ``remote_addr`` to the real client. With
0, forwarded headers are ignored, so a client cannot choose its own key.

Views declare limits with ``@rate_limit("RATELIMIT_LOGIN")`` (or opt out of every limit
with ``@exempt_from_limits``): the limit string lives in the
configuration, so operators tune it without code. Code that limits something other than a
request (a phone number, an SMS sender) calls ``hit("RATELIMIT_X", "phone", number)``.
Each app gets its own ``Limiter`` (Redis storage when ``REDIS_URL`` is set, so every
worker shares the counts; memory otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import parse
from werkzeug.middleware.proxy_fix import ProxyFix

EXTENSION_KEY = "portal_limiter"


def client_address() -> str:
    """Return the client's address as seen after ``ProxyFix``."""
    return request.remote_addr or "unknown"


def rate_limit(config_key: str, key_func: Callable[[], str] | None = None,
               methods: list[str] | None = None, scope: str | None = None):
    """Mark a view as limited by the limit string in ``app.config[config_key]``.

    ``methods`` restricts the limit to e.g. ``["POST"]`` so reading a form stays free.
    """

    def mark(view):
        view.__dict__.setdefault("_portal_limits", []).append(
            (config_key, key_func, methods, scope))
        return view

    return mark


def exempt_from_limits(view):
    """Mark a view as exempt from every limit (health checks probed by load balancers)."""
    view._portal_exempt = True
    return view


def get_limiter(app: Flask | None = None) -> Limiter:
    """Return the app's limiter."""
    return (app or current_app).extensions[EXTENSION_KEY]


def hit(config_key: str, *identifiers: str) -> bool:
    """Count one event against the configured limit; False when the limit is exceeded.

    Always True when rate limiting is disabled.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    limiter = get_limiter()
    item = parse(current_app.config[config_key])
    return limiter.limiter.hit(item, "portal", config_key, *identifiers)


def init_limits(app: Flask) -> None:
    """Install ``ProxyFix`` for the trusted hops, create the limiter and apply view limits.

    Call after the blueprints are registered, so every marked view is found.
    """
    hops = int(app.config.get("TRUSTED_PROXIES", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)
    limiter = Limiter(
        key_func=client_address,
        default_limits=[app.config["RATELIMIT_DEFAULT"]] if app.config.get(
            "RATELIMIT_DEFAULT") else [],
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        key_prefix="portal",
        headers_enabled=app.config.get("RATELIMIT_HEADERS_ENABLED", True),
        enabled=app.config.get("RATELIMIT_ENABLED", True),
    )
    limiter.init_app(app)
    for endpoint, view in list(app.view_functions.items()):
        marks = getattr(view, "_portal_limits", [])
        if not marks:
            continue
        wrapped = view
        for config_key, key_func, methods, scope in marks:
            wrapped = limiter.limit(
                lambda key=config_key: current_app.config[key],
                key_func=key_func, methods=methods, scope=scope,
            )(wrapped)
        # Flask-Limiter checks decorated limits inside the wrapper it returns, not in its
        # before-request hook: the app must call the wrapper, or the limit never applies.
        app.view_functions[endpoint] = wrapped
    for endpoint, view in app.view_functions.items():
        if endpoint == "static" or getattr(view, "_portal_exempt", False):
            limiter.exempt(view)
    app.extensions[EXTENSION_KEY] = limiter
