"""Public references: format, alphabet, uniqueness per kind, normalising what people type."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import references
from portal.extensions import db
from portal.models import PublicReference
from portal.references import (
    ALPHABET,
    ReferenceSpaceExhausted,
    is_valid_reference,
    new_reference,
    normalise_reference,
)

LOOK_ALIKES = set("0O1ILUV")


def test_alphabet_has_no_look_alikes():
    assert not LOOK_ALIKES & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET)
    assert set(ALPHABET) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def test_new_reference_format_and_prefix(app_ctx):
    incident = new_reference("incident")
    case = new_reference("case")
    assert re.fullmatch(r"IN-[23456789ABCDEFGHJKMNPQRSTWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTWXYZ]{4}",
                        incident)
    assert case.startswith("CS-") and is_valid_reference(case)
    assert not LOOK_ALIKES & set(incident[3:].replace("-", ""))
    stored = {(r.kind, r.code) for r in db.session.query(PublicReference)}
    assert stored == {("incident", incident), ("case", case)}


def test_many_references_are_distinct_and_valid(app_ctx):
    codes = [new_reference("case") for _ in range(200)]
    assert len(set(codes)) == 200
    assert all(is_valid_reference(code) for code in codes)


def _repeating_choice(monkeypatch, sequence: str):
    """Make the random source return the characters of ``sequence`` in a loop."""
    state = {"i": 0}

    def choice(alphabet):
        char = sequence[state["i"] % len(sequence)]
        state["i"] += 1
        assert char in alphabet
        return char

    monkeypatch.setattr(references.secrets, "choice", choice)
    return state


def test_collision_gives_a_fresh_code(app_ctx, monkeypatch):
    # Eight characters per code: the first two draws give the same code, the third differs.
    _repeating_choice(monkeypatch, "AAAAAAAA" "AAAAAAAA" "BBBBBBBB")
    first = new_reference("case")
    second = new_reference("case")
    assert first == "CS-AAAA-AAAA"
    assert second == "CS-BBBB-BBBB"
    db.session.commit()
    assert db.session.query(PublicReference).filter_by(kind="case").count() == 2


def test_collision_keeps_earlier_work_of_the_transaction(app_ctx, monkeypatch):
    _repeating_choice(monkeypatch, "CCCCCCCC" "CCCCCCCC" "DDDDDDDD")
    first = new_reference("incident")
    second = new_reference("incident")  # collides once, inside a savepoint
    db.session.commit()
    codes = {r.code for r in db.session.query(PublicReference).filter_by(kind="incident")}
    assert codes == {first, second}


def test_same_code_may_exist_for_two_kinds(app_ctx, monkeypatch):
    _repeating_choice(monkeypatch, "EEEEEEEE")
    assert new_reference("alpha") == "AL-EEEE-EEEE"
    assert new_reference("alfa") == "AL-EEEE-EEEE"  # same text, different kind: allowed
    db.session.commit()
    assert db.session.query(PublicReference).filter_by(code="AL-EEEE-EEEE").count() == 2


def test_table_refuses_a_duplicate_per_kind(app_ctx):
    from sqlalchemy.exc import IntegrityError

    db.session.add(PublicReference(kind="case", code="CS-2222-2222"))
    db.session.commit()
    db.session.add(PublicReference(kind="case", code="CS-2222-2222"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_exhausted_space_raises(app_ctx, monkeypatch):
    _repeating_choice(monkeypatch, "FFFFFFFF")
    new_reference("case")
    with pytest.raises(ReferenceSpaceExhausted):
        new_reference("case", attempts=3)


def test_reference_belongs_to_callers_transaction(app_ctx):
    new_reference("case")
    db.session.rollback()
    assert db.session.query(PublicReference).count() == 0


@pytest.mark.parametrize(("typed", "expected"), [
    ("CS-2ABC-DEF3", "CS-2ABC-DEF3"),
    ("cs-2abc-def3", "CS-2ABC-DEF3"),
    ("cs 2abc def3", "CS-2ABC-DEF3"),
    ("CS2ABCDEF3", "CS-2ABC-DEF3"),
    (" CS-2ABC DEF3 ", "CS-2ABC-DEF3"),
    ("ＣＳ－２ＡＢＣ－ＤＥＦ３", "CS-2ABC-DEF3"),  # full-width letters, digits and dash
    ("ｃｓ２ａｂｃｄｅｆ３", "CS-2ABC-DEF3"),
    ("CS\u30002ABC\u3000DEF3", "CS-2ABC-DEF3"),  # ideographic spaces
    ("cs.2abc/def3", "CS-2ABC-DEF3"),
    ("CS—2ABC—DEF3", "CS-2ABC-DEF3"),  # dash typed with a Chinese input method
])
def test_normalise_reference(typed, expected):
    assert normalise_reference(typed) == expected
    assert is_valid_reference(normalise_reference(typed))


@pytest.mark.parametrize("typed", ["CS-0ABC-DEF3", "CS-1ABC-DEF3", "CS-2ABL-DEF3",
                                   "CS-2ABC-DEF", "", "hello", "CS-2ABC-DEF3-X"])
def test_invalid_references_stay_invalid(typed):
    assert not is_valid_reference(normalise_reference(typed))


code_strategy = st.builds(
    lambda prefix, body: f"{prefix}-{body[:4]}-{body[4:]}",
    st.sampled_from(["IN", "CS"]),
    st.text(alphabet=ALPHABET, min_size=8, max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=code_strategy, data=st.data())
def test_normalise_round_trip(code, data):
    """Whatever case, spacing, dashes or full width a person uses, the reference comes back."""
    pieces = []
    for char in code.replace("-", ""):
        if data.draw(st.booleans()):
            char = char.lower()
        if data.draw(st.booleans()) and char.isascii():
            char = chr(ord(char) + 0xFEE0)  # full-width form
        pieces.append(char)
        pieces.append(data.draw(st.sampled_from(["", "", " ", "-", "\u3000", "－"])))
    typed = data.draw(st.sampled_from(["", " "])) + "".join(pieces)
    assert normalise_reference(typed) == code
