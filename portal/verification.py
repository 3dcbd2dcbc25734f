""""Prove it's yours": check the last 4 digits of a phone number, with lock-out.

The digits are never stored. A record keeps ``phone_tail_digest(phone, context)``: an
HMAC-SHA256 under a server-side key (``VERIFICATION_KEY``, else derived from
``SECRET_KEY``) over the context (e.g. a tracking number) and the 4 digits. A stolen
database therefore does not give the digits away (a plain or salted hash of 4 digits falls
to 10,000 guesses), and equal digits on two records do not look equal.

``check`` compares a guess with the digests of a subject, counts failures per subject and
locks the subject out for a while after too many.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal.db import utcnow
from portal.extensions import db
from portal.models import VerificationLock

_DIGITS = re.compile(r"\d")


def _key() -> bytes:
    return _derive_key(current_app.config.get("VERIFICATION_KEY") or "",
                       current_app.config["SECRET_KEY"])


@lru_cache(maxsize=4)
def _derive_key(configured: str, secret: str) -> bytes:
    # Cached: bulk imports compute two digests per row.
    if configured:
        return configured.encode()
    return hmac.new(secret.encode(), b"portal-verification-key-v1", hashlib.sha256).digest()


def last_four(value: str) -> str | None:
    """Return the last 4 digits of a phone number or of typed digits, else None."""
    digits = "".join(_DIGITS.findall(unicodedata.normalize("NFKC", value or "")))
    return digits[-4:] if len(digits) >= 4 else None


def phone_tail_digest(phone_or_digits: str, context: str) -> str | None:
    """HMAC of the last 4 digits of a phone, bound to ``context``; None without 4 digits."""
    tail = last_four(phone_or_digits)
    if tail is None:
        return None
    message = f"{context}\x1f{tail}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class TailDigester:
    """``phone_tail_digest`` for many values under one key (bulk imports).

    Gives exactly the same digests. The HMAC's inner and outer SHA-256 states are keyed
    once (RFC 2104: the key padded to the block size, XOR 0x36 / 0x5C) and copied per
    value, and an all-ASCII-digits phone skips the NFKC and regular expression of
    ``last_four``. Memoising by tail would not help: the message binds the context
    (a tracking number, distinct per row). Create it inside an app context.
    """

    def __init__(self, key: bytes | None = None):
        """Key the two hash states (default: the configured verification key)."""
        key = _key() if key is None else key
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def __call__(self, phone_or_digits: str, context: str) -> str | None:
        """The digest of the last 4 digits bound to ``context``; None without 4 digits."""
        if phone_or_digits.isascii() and phone_or_digits.isdigit():
            if len(phone_or_digits) < 4:
                return None
            tail = phone_or_digits[-4:]
        else:
            tail = last_four(phone_or_digits)
            if tail is None:
                return None
        inner = self._inner.copy()
        inner.update(f"{context}\x1f{tail}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of a check: ``ok``, or why not, and how many tries are left."""

    ok: bool
    malformed: bool = False
    locked: bool = False
    locked_until: datetime | None = None
    attempts_left: int = 0


def _count_failure(subject: str) -> int:
    """Add one failure to the subject atomically and return the new count.

    ``failures = failures + 1`` in the database (not read-modify-write in Python), so
    guesses sent in parallel all count: a lost update would hand an attacker extra tries.
    """
    if db.session.get(VerificationLock, subject) is None:
        try:
            with db.session.begin_nested():
                db.session.add(VerificationLock(subject=subject, failures=0))
        except IntegrityError:
            pass  # created by a concurrent request: count on that row
    return db.session.execute(
        update(VerificationLock)
        .where(VerificationLock.subject == subject)
        .values(failures=VerificationLock.failures + 1, updated_at=utcnow())
        .returning(VerificationLock.failures)
        .execution_options(synchronize_session="fetch")
    ).scalar_one()


def is_locked(subject: str) -> datetime | None:
    """Return when the subject's lock-out ends, or None if it is not locked."""
    lock = db.session.get(VerificationLock, subject)
    if lock and lock.locked_until and lock.locked_until > utcnow():
        return lock.locked_until
    return None


def check(subject: str, context: str, digests: list[str | None], guess: str) -> VerificationResult:
    """Check ``guess`` (the last 4 digits) against the subject's stored digests.

    ``subject`` names what is being unlocked (``"parcel:SF123..."``, ``"case:CS-..."``);
    failures are counted per subject, so guessing on one parcel locks that parcel.
    The caller commits. A locked subject fails without comparing anything.
    """
    config = current_app.config
    max_failures = int(config["VERIFY_MAX_FAILURES"])
    locked_until = is_locked(subject)
    if locked_until:
        return VerificationResult(ok=False, locked=True, locked_until=locked_until)
    typed = "".join(_DIGITS.findall(unicodedata.normalize("NFKC", guess or "")))
    if len(typed) != 4:
        # Not a guess at all: say so without spending an attempt.
        return VerificationResult(ok=False, malformed=True)
    candidate = phone_tail_digest(typed, context)
    matched = any(
        stored and hmac.compare_digest(stored, candidate) for stored in digests)
    if matched:
        db.session.execute(
            update(VerificationLock)
            .where(VerificationLock.subject == subject)
            .values(failures=0, locked_until=None, updated_at=utcnow())
            .execution_options(synchronize_session="fetch"))
        return VerificationResult(ok=True, attempts_left=max_failures)
    failures = _count_failure(subject)
    if failures >= max_failures:
        until = utcnow() + timedelta(minutes=int(config["VERIFY_LOCKOUT_MINUTES"]))
        db.session.execute(
            update(VerificationLock)
            .where(VerificationLock.subject == subject)
            .values(failures=0, locked_until=until, updated_at=utcnow())
            .execution_options(synchronize_session="fetch"))
        return VerificationResult(ok=False, locked=True, locked_until=until)
    return VerificationResult(ok=False, attempts_left=max_failures - failures)
