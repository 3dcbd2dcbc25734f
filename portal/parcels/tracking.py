"""Tracking numbers: normalise what people paste, split lists, validate, guess the carrier.

- ``normalise``: full-width to ASCII (NFKC), upper case, spaces, dashes and invisible
  characters removed. ``SF 7444-4000-48449`` and ``ｓｆ７４４４４０００４８４４９`` both give
  ``SF7444400048449``.
- ``split_numbers``: a pasted list separated by newlines, commas (also ``，、；;``) or spaces.
  A chunk between commas/newlines that is one valid number once its spaces are removed is
  kept whole (``SF 7444 4000 48449``); otherwise it is split on spaces.
- ``validate``: strict length and alphabet, then the carrier formats of DOMAIN.md and the
  company's own patterns (``PARCEL_TRACKING_PATTERNS``), and the UPU S10 check digit.
  Prefixes only *guess* the carrier: sources conflict and no domestic carrier publishes a
  check digit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 8
MAX_LENGTH = 40
MAX_PER_LOOKUP = 50

# Dashes and spaces people (and Chinese input methods) put inside numbers.
_DROP = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\uff0d\u00ad\u200b-\u200d\u2060\ufeff_.·・/]")
_SEPARATORS = re.compile(r"[\n\r,;，、；\u2028\u2029]+")
_ALNUM = re.compile(r"[A-Z0-9]+")

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
S10 = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}")

#: Built-in formats, in the order used to guess the carrier (DOMAIN.md's table).
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"SF\d{12,13}", "SF Express"),
    (r"JDV[A-Z]\d{11}|JD[XK]\d{12}", "JD Logistics"),
    (r"YT\d{13}", "YTO"),
    (r"JT\d{13}", "J&T"),
    (r"(?:77|43)\d{12,15}", "STO"),
    (r"7[3-68]\d{12}", "ZTO"),
    (r"[34]\d{14}|5\d{12}", "Yunda"),
    (r"\d{13}", "China Post"),
)

REASONS = {
    "empty": _l("No tracking number."),
    "length": _l("A tracking number has %(min)s to %(max)s letters and digits."),
    "characters": _l("A tracking number has only letters and digits."),
    "check_digit": _l("The check digit does not match (international postal number)."),
    "format": _l("This does not match any tracking number format we know."),
}


@dataclass(frozen=True)
class Checked:
    """A normalised number, and either its guessed carrier or why it is malformed."""

    raw: str
    number: str
    ok: bool
    carrier: str | None = None
    reason: str | None = None  # key of REASONS when not ok

    @property
    def message(self) -> str:
        """The reason in the reader's language."""
        if self.reason is None:
            return ""
        return str(REASONS[self.reason]) % {"min": MIN_LENGTH, "max": MAX_LENGTH}


def normalise(raw: str | None) -> str:
    """Return ``raw`` as a bare upper-case tracking number (may still be invalid)."""
    if raw and raw.isascii() and raw.isalnum():
        return raw.upper()  # already bare: NFKC and the dropped characters change nothing
    text = unicodedata.normalize("NFKC", raw or "")
    return _DROP.sub("", text).upper()


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of 8 serial digits."""
    total = sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_valid(number: str) -> bool:
    """True for a well-formed UPU S10 number whose check digit is right."""
    if not S10.fullmatch(number):
        return False
    return s10_check_digit(number[2:10]) == int(number[10])


@lru_cache(maxsize=16)
def _compile(custom: str, builtin: bool) -> tuple[tuple[re.Pattern, str], ...]:
    patterns: list[tuple[re.Pattern, str]] = []
    for item in (custom or "").split(";"):
        pattern, _sep, name = item.strip().partition("=")
        if pattern.strip():
            patterns.append((re.compile(pattern.strip()), name.strip() or "Other"))
    if builtin:
        patterns.extend((re.compile(p), name) for p, name in BUILTIN_PATTERNS)
    return tuple(patterns)


def patterns() -> tuple[tuple[re.Pattern, str], ...]:
    """Company patterns (``PARCEL_TRACKING_PATTERNS``: ``REGEX=Carrier;...``) then the
    built-in ones (unless ``PARCEL_TRACKING_BUILTIN`` is off)."""
    custom, builtin = "", True
    if has_app_context():
        custom = current_app.config.get("PARCEL_TRACKING_PATTERNS", "") or ""
        builtin = bool(current_app.config.get("PARCEL_TRACKING_BUILTIN", True))
    return _compile(custom, builtin)


def check_normalised(number: str, raw: str = "",
                     known: tuple[tuple[re.Pattern, str], ...] | None = None) -> Checked:
    """Validate an already normalised number (``known``: the patterns, when the caller
    validates many numbers and has read them once)."""
    ok, carrier, why = verdict(number, known)
    return Checked(raw, number, ok, carrier=carrier, reason=why)


def verdict(number: str, known: tuple[tuple[re.Pattern, str], ...] | None = None
            ) -> tuple[bool, str | None, str | None]:
    """``check_normalised`` as a plain ``(ok, carrier, reason)`` tuple: the bulk import's
    hot path, without building a ``Checked`` per row."""
    if not number:
        return False, None, "empty"
    if not _ALNUM.fullmatch(number):
        return False, None, "characters"
    if not MIN_LENGTH <= len(number) <= MAX_LENGTH:
        return False, None, "length"
    if S10.fullmatch(number):
        if not s10_valid(number):
            return False, None, "check_digit"
        return True, _s10_carrier(number), None
    for pattern, name in known if known is not None else patterns():
        if pattern.fullmatch(number):
            return True, name, None
    return False, None, "format"


def _s10_carrier(number: str) -> str:
    return "EMS" if number.startswith("E") else "Postal (UPU S10)"


def validate(raw: str | None) -> Checked:
    """Normalise and validate one number."""
    return check_normalised(normalise(raw), raw or "")


def split_numbers(text: str | None, limit: int = MAX_PER_LOOKUP) -> tuple[list[str], bool]:
    """Split a pasted list into raw numbers; return (the first ``limit``, truncated?).

    Duplicates (after normalising) are dropped, keeping the first.
    """
    text = unicodedata.normalize("NFKC", text or "")
    found: list[str] = []
    seen: set[str] = set()
    truncated = False
    for chunk in _SEPARATORS.split(text):
        chunk = chunk.strip()
        if not chunk:
            continue
        parts = chunk.split()
        if len(parts) > 1 and check_normalised(normalise(chunk)).ok:
            parts = [chunk]
        for part in parts:
            key = normalise(part)
            if not key or key in seen:
                continue
            if len(found) >= limit:
                truncated = True
                break
            seen.add(key)
            found.append(part)
    return found, truncated


def check_many(text: str | None, limit: int = MAX_PER_LOOKUP) -> tuple[list[Checked], bool]:
    """Split and validate a pasted list."""
    raws, truncated = split_numbers(text, limit)
    return [validate(raw) for raw in raws], truncated
