"""Serving public pages for the incident-day surge.

A public GET page sets no cookie and does not vary on cookies, carries a strong ``ETag``
(a matching ``If-None-Match`` gets 304), ``Vary: Accept-Language`` and ``Cache-Control:
public, max-age=PUBLIC_CACHE_MAX_AGE`` so nginx or a CDN can serve it; the rendered bytes
are kept in the shared page cache. A signed-in staff member never gets or fills a cache
entry: their pages are rendered fresh and marked ``private, no-store``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, g, request

from portal.i18n import current_language
from portal.incidents.cache import Page, get_cache


def staff_signed_in() -> bool:
    """True when the request carries a signed-in staff session (checked only if a session
    cookie was sent, so anonymous readers never touch the session)."""
    if current_app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies:
        return False
    from flask_login import current_user

    return bool(getattr(current_user, "is_authenticated", False))


_LANGUAGE_MEMO: dict[tuple[str | None, str], str] = {}
_LANGUAGE_MEMO_MAX = 4096


def request_language() -> str:
    """The reader's language, memoised per (``?lang=``, ``Accept-Language``) pair.

    Parsing ``Accept-Language`` with Babel costs about as much as serving a cached page,
    so a cache hit reuses the answer the selector gave for the same inputs before.
    """
    key = (request.args.get("lang"), request.headers.get("Accept-Language", ""))
    language = _LANGUAGE_MEMO.get(key)
    if language is None:
        language = current_language()
        if len(_LANGUAGE_MEMO) < _LANGUAGE_MEMO_MAX:
            _LANGUAGE_MEMO[key] = language
    return language


def no_flashes(*_args, **_kwargs) -> list:
    """Public cached pages never show (or consume) flashed messages."""
    return []


def _finish(page: Page, cacheable: bool) -> Response:
    config = current_app.config
    if cacheable:
        g.public_page = True
        cache_control = f"public, max-age={int(config.get('PUBLIC_CACHE_MAX_AGE', 15))}"
    else:
        cache_control = "private, no-store"
    if cacheable and request.if_none_match.contains(page.etag):
        response = Response(status=304)
    else:
        response = Response(page.body, content_type=page.content_type)
    response.headers["Cache-Control"] = cache_control
    response.set_etag(page.etag)
    response.vary.add("Accept-Language")
    return response


def serve_public(variant: str, render: Callable[[], str],
                 content_type: str = "text/html; charset=utf-8") -> Response:
    """Return the page for ``variant`` (path plus the arguments that change it) from the
    cache, rendering it with ``render()`` on a miss."""
    if staff_signed_in():
        body = render().encode()
        return _finish(Page.build(body, content_type), cacheable=False)
    cache = get_cache()
    key = f"{variant}|{request_language()}"
    generation = cache.generation()  # read before the database, see cache.py
    page = cache.get(generation, key)
    if page is None:
        page = Page.build(render().encode(), content_type)
        cache.set(generation, key, page)
    return _finish(page, cacheable=True)


def install_cookie_free_sessions(app: Flask) -> None:
    """Make the app's session interface skip public pages whose session is untouched.

    Flask-Login's hooks read the session on every request, which makes Flask add
    ``Vary: Cookie``; a public page does not depend on the cookie, so for those responses
    the session is neither saved nor advertised (no ``Set-Cookie``, no ``Vary: Cookie``).
    """
    interface = app.session_interface
    if getattr(interface, "_public_page_aware", False):
        return
    base = type(interface)

    class PublicPageAwareSessions(base):
        _public_page_aware = True
        _signing: tuple | None = None  # (keys, serializer)

        def get_signing_serializer(self, app):
            """Flask's serializer, built once per set of keys instead of twice a request
            (building one runs a trial serialisation; a claim's two requests built four)."""
            if not app.secret_key:
                return None
            keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
            cached = self._signing
            if cached is None or cached[0] != keys:
                cached = self._signing = (keys, super().get_signing_serializer(app))
            return cached[1]

        def save_session(self, app, session, response):
            if g.get("public_page") and not session.modified:
                return None
            return super().save_session(app, session, response)

    aware = PublicPageAwareSessions.__new__(PublicPageAwareSessions)
    aware.__dict__.update(interface.__dict__)
    app.session_interface = aware

