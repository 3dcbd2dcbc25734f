"""Text in three languages: one pattern for every translatable field.

A translatable field is a JSON column holding ``{"zh_Hans": ..., "zh_Hant": ..., "en": ...,
"auto": ["zh_Hant"]}``. Traditional Chinese left empty by staff is derived from Simplified
with OpenCC and listed in ``auto`` (machine-converted) until someone edits it. Readers get
their language, else a visible fallback: ``resolve`` says which language was shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, has_app_context
from sqlalchemy import JSON
from sqlalchemy.ext.mutable import MutableDict

from portal.i18n import LANGUAGES, current_language

#: Column type for translatable text; in-place changes are tracked.
TranslatedText = MutableDict.as_mutable(JSON)

FALLBACK_ORDER = {
    "zh_Hans": ("zh_Hans", "zh_Hant", "en"),
    "zh_Hant": ("zh_Hant", "zh_Hans", "en"),
    "en": ("en", "zh_Hans", "zh_Hant"),
}


@lru_cache(maxsize=8)
def _converter(conversion: str):
    import opencc

    return opencc.OpenCC(conversion)


def to_traditional(text: str, conversion: str | None = None) -> str:
    """Convert Simplified Chinese to Traditional with OpenCC (``OPENCC_CONVERSION``, s2t)."""
    if not text:
        return text
    if conversion is None:
        conversion = (current_app.config.get("OPENCC_CONVERSION", "s2t")
                      if has_app_context() else "s2t")
    return _converter(conversion).convert(text)


def make_translated(zh_hans: str = "", zh_hant: str = "", en: str = "",
                    previous: dict | None = None) -> dict:
    """Build a translatable value from what staff typed.

    An empty Traditional text is converted from Simplified and marked machine-converted.
    A Traditional text equal to the previous machine conversion stays marked as such, so
    an untouched form does not turn a machine text into a "human" one.
    """
    zh_hans, zh_hant, en = (zh_hans or "").strip(), (zh_hant or "").strip(), (en or "").strip()
    auto: list[str] = []
    previous = previous or {}
    was_auto = "zh_Hant" in previous.get("auto", [])
    if zh_hans and (not zh_hant or (was_auto and zh_hant == previous.get("zh_Hant"))):
        zh_hant = to_traditional(zh_hans)
        auto.append("zh_Hant")
    return {"zh_Hans": zh_hans, "zh_Hant": zh_hant, "en": en, "auto": auto}


@dataclass(frozen=True)
class Resolved:
    """The text shown to a reader and how it was chosen."""

    text: str
    language: str  # the language of ``text``
    requested: str
    machine_converted: bool

    @property
    def is_fallback(self) -> bool:
        """True when the reader's language was missing and another was shown."""
        return self.language != self.requested


def resolve(value: dict | None, language: str | None = None) -> Resolved:
    """Return the best text of a translatable value for ``language`` (default: reader's)."""
    requested = language or current_language()
    if requested not in LANGUAGES:
        requested = "zh_Hans"
    value = value or {}
    for candidate in FALLBACK_ORDER[requested]:
        text = value.get(candidate) or ""
        if text:
            return Resolved(text, candidate, requested, candidate in value.get("auto", []))
    return Resolved("", requested, requested, False)


def translated(value: dict | None, language: str | None = None) -> str:
    """Template filter ``tr``: the text in the reader's language, with fallback."""
    return resolve(value, language).text


def missing_languages(value: dict | None) -> list[str]:
    """Languages with no text, for staff forms that warn before publishing."""
    value = value or {}
    return [code for code in LANGUAGES if not value.get(code)]
