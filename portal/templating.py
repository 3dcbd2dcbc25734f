"""Template globals and filters shared by every page."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from flask import Flask
from flask_babel import format_datetime, get_locale, get_timezone

from portal import i18n


def local_time(value: datetime | None, fmt: str = "medium") -> str:
    """Format an aware UTC datetime in the configured zone and the reader's language."""
    if value is None:
        return ""
    return _formatted(value, fmt, str(get_locale()), str(get_timezone()))


@lru_cache(maxsize=512)
def _formatted(value: datetime, fmt: str, locale: str, zone: str) -> str:
    # Babel takes ~25 µs per call; the same moment is often shown twice (a message's text
    # and HTML bodies, a page's header and list). The locale and zone are part of the key.
    return format_datetime(value, fmt)


def iso_time(value: datetime | None) -> str:
    """Return an ISO 8601 UTC timestamp for ``<time datetime>`` and feeds."""
    if value is None:
        return ""
    return value.isoformat().replace("+00:00", "Z")


def init_templating(app: Flask) -> None:
    """Register globals (languages, switcher) and filters (times, translated content)."""
    from portal.content import resolve, translated
    from portal.notifications.stencil import slot_aware

    app.jinja_env.globals.update(
        LANGUAGES=i18n.LANGUAGES,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
        html_lang=i18n.html_lang,
        current_language=i18n.current_language,
        url_with_language=i18n.url_with_language,
        resolve_content=resolve,
    )
    # slot-aware: messages rendered from stencils print times through it
    app.jinja_env.filters["local_time"] = slot_aware(local_time)
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.filters["tr"] = translated
