"""Language selection and formatting helpers for the three languages the portal speaks.

Flask-Babel's ``best_match`` does not map real browser tags (``zh-CN``, ``zh-TW``,
``zh-HK``) to script-based folders, so the selector below parses each tag itself.
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError
from flask import current_app, g, has_request_context, request
from flask_babel import get_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_LANGUAGE = "zh_Hans"
LANGUAGE_NAMES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
HTML_LANG = {"zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "en": "en"}


@lru_cache(maxsize=64)
def locale_of(language: str) -> Locale:
    """The Babel locale of a portal language, parsed once (Babel's parsing takes as long
    as rendering a short message; ``force_locale`` and Flask-Babel accept the object)."""
    return Locale.parse(language)


def select_locale_object() -> Locale:
    """``select_locale`` as a kept Babel locale (Flask-Babel's locale selector)."""
    return locale_of(select_locale())


@lru_cache(maxsize=512)
def normalise_language(tag: str | None) -> str | None:
    """Map a language tag (``zh-CN``, ``zh_Hant``, ``en-GB``, ``zh-HK``...) to a portal language.

    Returns None when the tag names no language the portal speaks. Kept per tag
    (``?lang=`` and ``Accept-Language`` parts are a handful of distinct values).
    """
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if not tag:
        return None
    lowered = tag.lower()
    if lowered in ("zh-hans", "zh-hant"):
        return "zh_Hans" if lowered == "zh-hans" else "zh_Hant"
    try:
        locale = Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        return None
    if locale.language == "zh":
        return "zh_Hant" if locale.script == "Hant" else "zh_Hans"
    if locale.language == "en":
        return "en"
    return None


def language_from_accept_header() -> str | None:
    """Return the first portal language in the request's ``Accept-Language``."""
    return language_for_header(request.headers.get("Accept-Language", ""))


@lru_cache(maxsize=1024)
def language_for_header(header: str) -> str | None:
    """Map a raw ``Accept-Language`` value to a portal language (cached: browsers send a
    handful of distinct values, and Babel's parsing costs ~0.7 ms a request)."""
    for tag, quality in parse_accept_header(header, LanguageAccept):
        if quality <= 0:
            continue  # "q=0" means "not this language"
        language = normalise_language(tag)
        if language:
            return language
    return None


def select_locale() -> str:
    """Pick the reader's language: ``?lang=``, then ``Accept-Language``, then the default
    (Simplified Chinese). Public pages set no cookie, so the choice travels in links."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    forced = g.get("forced_language")
    if forced:
        return forced
    language = normalise_language(request.args.get("lang"))
    if language:
        return language
    language = language_from_accept_header()
    return language or current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)


def current_language() -> str:
    """Return the portal language of the current request or forced context."""
    locale = get_locale()
    if locale is None:
        return DEFAULT_LANGUAGE
    if locale.language == "zh":
        return "zh_Hant" if locale.script == "Hant" else "zh_Hans"
    return "en"


def html_lang() -> str:
    """Return the BCP 47 value for ``<html lang>`` of the current language."""
    return HTML_LANG[current_language()]


def url_with_language(language: str) -> str:
    """Return the current URL with ``lang`` set, for the language switcher."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [language]
    from urllib.parse import urlencode

    return request.path + "?" + urlencode(args, doseq=True)
