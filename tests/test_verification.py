""""Prove it's yours": HMAC digests of the last 4 digits, failures and lock-out."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.models import VerificationLock
from portal.verification import TailDigester, check, is_locked, last_four, phone_tail_digest

PHONE = "+8613800138000"
CONTEXT = "SF1234567890"


@pytest.fixture
def digest(app_ctx):
    return phone_tail_digest(PHONE, CONTEXT)


def lock_row(subject: str) -> VerificationLock | None:
    db.session.expire_all()
    return db.session.get(VerificationLock, subject)


def test_last_four():
    assert last_four("+86 138-0013-8000") == "8000"
    assert last_four("８０００") == "8000"
    assert last_four("123") is None
    assert last_four("") is None


def test_digest_is_a_keyed_hmac_bound_to_context(app_ctx):
    value = phone_tail_digest(PHONE, CONTEXT)
    assert len(value) == 64
    assert value != hashlib.sha256(b"8000").hexdigest()
    assert value != hashlib.sha256(f"{CONTEXT}8000".encode()).hexdigest()
    # Only the last four digits matter, however they are written.
    assert phone_tail_digest("8000", CONTEXT) == value
    assert phone_tail_digest("+86 139 9999 8000", CONTEXT) == value
    # Equal digits on two records do not look equal.
    assert phone_tail_digest(PHONE, "SF0000000001") != value
    assert phone_tail_digest("123", CONTEXT) is None


@pytest.mark.parametrize("key", ["", "short-key", "k" * 64, "a-key-longer-than-a-block-" * 5])
def test_the_bulk_digester_gives_the_same_digests(app_ctx, key):
    """``TailDigester`` (bulk imports) equals ``phone_tail_digest`` for every key length
    (derived, shorter than, equal to and longer than SHA-256's block) and every spelling."""
    app_ctx.config["VERIFICATION_KEY"] = key
    digester = TailDigester()
    phones = [PHONE, "13800138000", "8000", "+86 138-0013-8000", "８０００", "138 0013 8000 ",
              "123", "", "abc", "0000", "1234567890123456789"]
    for phone in phones:
        for context in (CONTEXT, "SF0000000001", "运单"):
            assert digester(phone, context) == phone_tail_digest(phone, context), phone


def test_digest_changes_with_the_key(app_ctx):
    derived = phone_tail_digest(PHONE, CONTEXT)
    app_ctx.config["VERIFICATION_KEY"] = "key-one"
    one = phone_tail_digest(PHONE, CONTEXT)
    app_ctx.config["VERIFICATION_KEY"] = "key-two"
    two = phone_tail_digest(PHONE, CONTEXT)
    assert len({derived, one, two}) == 3
    app_ctx.config["VERIFICATION_KEY"] = ""
    app_ctx.config["SECRET_KEY"] = "another-secret-" + "y" * 32
    assert phone_tail_digest(PHONE, CONTEXT) not in {derived, one, two}


def test_right_digits_pass(app_ctx, digest):
    result = check("parcel:SF1", CONTEXT, [None, digest], "8000")
    assert result.ok and not result.locked and not result.malformed
    assert result.attempts_left == app_ctx.config["VERIFY_MAX_FAILURES"]


def test_full_width_digits_are_accepted(app_ctx, digest):
    assert check("parcel:SF1", CONTEXT, [digest], "８０００").ok
    assert check("parcel:SF1", CONTEXT, [digest], " 80 00 ").ok


def test_any_of_several_digests_matches(app_ctx, digest):
    recipient = phone_tail_digest("+8613911112222", CONTEXT)
    assert check("parcel:SF1", CONTEXT, [digest, recipient], "2222").ok


def test_wrong_digits_count_and_lock_after_max(app_ctx, digest):
    app_ctx.config["VERIFY_MAX_FAILURES"] = 3
    subject = "parcel:SF2"
    first = check(subject, CONTEXT, [digest], "1111")
    assert not first.ok and not first.locked and first.attempts_left == 2
    second = check(subject, CONTEXT, [digest], "2222")
    assert second.attempts_left == 1
    third = check(subject, CONTEXT, [digest], "3333")
    assert third.locked and not third.ok
    assert third.locked_until > utcnow() + timedelta(minutes=29)
    db.session.commit()
    assert is_locked(subject) is not None
    # Even the right digits are refused while locked, and nothing is compared.
    refused = check(subject, CONTEXT, [digest], "8000")
    assert refused.locked and not refused.ok


def test_success_resets_the_failure_count(app_ctx, digest):
    app_ctx.config["VERIFY_MAX_FAILURES"] = 3
    subject = "parcel:SF3"
    check(subject, CONTEXT, [digest], "1111")
    check(subject, CONTEXT, [digest], "2222")
    assert check(subject, CONTEXT, [digest], "8000").ok
    assert lock_row(subject).failures == 0
    assert check(subject, CONTEXT, [digest], "1111").attempts_left == 2


def test_lock_expires(app_ctx, digest):
    app_ctx.config["VERIFY_MAX_FAILURES"] = 2
    subject = "parcel:SF4"
    check(subject, CONTEXT, [digest], "1111")
    assert check(subject, CONTEXT, [digest], "1111").locked
    db.session.commit()
    row = lock_row(subject)
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert is_locked(subject) is None
    assert check(subject, CONTEXT, [digest], "8000").ok


@pytest.mark.parametrize("guess", ["800", "abcd", "80a0", "", "80000", "eight"])
def test_malformed_guess_does_not_count(app_ctx, digest, guess):
    app_ctx.config["VERIFY_MAX_FAILURES"] = 2
    subject = "parcel:SF5"
    for _ in range(5):
        result = check(subject, CONTEXT, [digest], guess)
        assert result.malformed and not result.ok and not result.locked
    row = lock_row(subject)
    assert row is None or row.failures == 0
    assert check(subject, CONTEXT, [digest], "8000").ok


def test_locks_are_per_subject(app_ctx, digest):
    app_ctx.config["VERIFY_MAX_FAILURES"] = 2
    check("parcel:A", CONTEXT, [digest], "1111")
    assert check("parcel:A", CONTEXT, [digest], "1111").locked
    db.session.commit()
    assert check("parcel:B", CONTEXT, [digest], "8000").ok
    assert check("parcel:A", CONTEXT, [digest], "8000").locked


def test_digest_of_another_context_does_not_match(app_ctx):
    other = phone_tail_digest(PHONE, "SF0000000001")
    result = check("parcel:SF6", CONTEXT, [other], "8000")
    assert not result.ok


def test_concurrent_failures_are_all_counted(app):
    """Two wrong guesses in parallel both count (no lost update that would let an
    attacker multiply the attempts by sending guesses in parallel)."""
    subject = "parcel:RACE"
    with app.app_context():
        digest = phone_tail_digest(PHONE, CONTEXT)
        check(subject, CONTEXT, [digest], "0001")  # creates the row
        db.session.commit()

    holding = threading.Event()
    errors = []

    def second_guess():
        try:
            with app.app_context():
                holding.wait(5)
                check(subject, CONTEXT, [digest], "0003")
                db.session.commit()
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    with app.app_context():
        check(subject, CONTEXT, [digest], "0002")  # flushed, not committed: row is held
        thread = threading.Thread(target=second_guess)
        thread.start()
        holding.set()
        time.sleep(0.5)  # the other request reads and then waits for our commit
        db.session.commit()
    thread.join(15)
    assert not errors, errors
    with app.app_context():
        assert db.session.get(VerificationLock, subject).failures == 3
