"""Who may see a case: reference + last 4 digits, signed links, and reference recovery.

- The status page opens with the reference and the last 4 digits of the phone on file,
  checked by the foundation's ``verification.check`` (HMAC, failures counted per case,
  lock-out). An unknown reference is answered exactly like wrong digits, and counts too.
- Emails carry a signed link (itsdangerous, ``CASES_LINK_DAYS``) that embeds the case's
  ``access_nonce``; changing the nonce revokes every link sent.
- "I lost my reference": the open references of a phone or email are sent there, never
  shown; the page says the same thing whether or not anything matched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from portal.cases import notices
from portal.cases.models import OPEN_STATES, Case
from portal.db import utcnow
from portal.extensions import db
from portal.limits import hit
from portal.notifications.links import public_url
from portal.references import is_valid_reference, normalise_reference
from portal.verification import VerificationResult, check

STATUS_SALT = "portal.cases.status"
RATING_SALT = "portal.cases.rating"


_SERIALIZERS: dict[tuple[str, str], URLSafeTimedSerializer] = {}


def _serializer(salt: str) -> URLSafeTimedSerializer:
    # Kept per key and salt: building one runs a trial serialisation, and every claim's
    # confirmation signs a link. A new SECRET_KEY gets a new one.
    key = (current_app.config["SECRET_KEY"], salt)
    serializer = _SERIALIZERS.get(key)
    if serializer is None:
        if len(_SERIALIZERS) > 16:
            _SERIALIZERS.clear()
        serializer = _SERIALIZERS[key] = URLSafeTimedSerializer(key[0], salt=salt)
    return serializer


def status_token(case: Case) -> str:
    """A signed token opening this case's status page."""
    return _serializer(STATUS_SALT).dumps([case.reference, case.access_nonce])


def rating_token(case: Case) -> str:
    """A signed token for the one-click rating link."""
    return _serializer(RATING_SALT).dumps([case.reference, case.access_nonce])


def _load(token: str | None, salt: str, reference: str, days: int) -> Case | None:
    if not token or len(token) > 300:
        return None
    try:
        ref, nonce = _serializer(salt).loads(token, max_age=days * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    if ref != reference:
        return None
    case = db.session.scalar(select(Case).where(Case.reference == ref))
    if case is None or case.access_nonce != nonce:
        return None
    return case


def case_from_status_token(reference: str, token: str | None) -> Case | None:
    """The case a valid status link opens, else None."""
    return _load(token, STATUS_SALT, reference,
                 int(current_app.config.get("CASES_LINK_DAYS", 180)))


def case_from_rating_token(reference: str, token: str | None) -> Case | None:
    """The case a valid rating link opens, else None."""
    return _load(token, RATING_SALT, reference,
                 int(current_app.config.get("CASES_RATING_LINK_DAYS", 60)))


def status_path(case: Case) -> str:
    """The status page path (without a token)."""
    return f"/claims/{case.reference}"


def status_url(case: Case, language: str | None = None) -> str:
    """Absolute signed link to the status page (for email)."""
    url = public_url(status_path(case), language)
    return url + ("&" if "?" in url else "?") + "t=" + status_token(case)


def rating_url(case: Case, language: str | None = None) -> str:
    """Absolute signed link to the rating page."""
    url = public_url(f"/claims/{case.reference}/rate", language)
    return url + ("&" if "?" in url else "?") + "t=" + rating_token(case)


@dataclass(frozen=True)
class Access:
    """Outcome of a reference + digits check."""

    case: Case | None
    result: VerificationResult


def verify(reference_text: str, digits: str) -> Access:
    """Check a typed reference and last 4 digits. The caller commits (failures count)."""
    reference = normalise_reference(reference_text)[:20]
    if not is_valid_reference(reference):
        return Access(None, VerificationResult(ok=False, malformed=True))
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    digest = case.phone_tail_digest if case is not None else None
    result = check(f"case:{reference}", reference, [digest], digits)
    return Access(case if result.ok and case is not None else None, result)


def _normalise_contact(text: str) -> tuple[str, str] | None:
    text = (text or "").strip()
    if "@" in text:
        try:
            return "email", validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return None
    try:
        number = phonenumbers.parse(text, current_app.config.get("PHONE_DEFAULT_REGION", "CN"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return "sms", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def recover(contact: str, language: str) -> bool:
    """Send the open references of a phone or email there; False when the input is not a
    phone or email at all. Whether anything matched is never returned."""
    found = _normalise_contact(contact)
    if found is None:
        return False
    channel, address = found
    if not hit("RATELIMIT_CASE_RECOVER_ADDRESS", "case-recover", address):
        return True  # silently nothing: the same answer as "sent"
    column = Case.email if channel == "email" else Case.phone_e164
    cases = list(db.session.scalars(
        select(Case).where(column == address, Case.state.in_(OPEN_STATES))
        .order_by(Case.id.desc()).limit(20)))
    if cases:
        stamp = utcnow().strftime("%Y%m%d%H%M%S")
        digest = hashlib.sha256(address.encode()).hexdigest()[:16]
        notices.references(channel, address, language, cases,
                           event_key=f"case-recover:{digest}:{stamp}")
    return True
