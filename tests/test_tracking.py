"""Tracking numbers: normalising pasted input, splitting lists, formats, UPU S10."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.parcels import tracking

VALID = {
    "SF7444400048449": "SF Express",
    "JDVA11408814483": "JD Logistics",
    "JT0006968326954": "J&T",
    "77316523125896": "STO",
    "1240921381750": "China Post",
    "EA123456785CN": "EMS",
    "YT1234567890123": "YTO",
}


def to_full_width(text: str) -> str:
    """ASCII letters and digits to their full-width forms (as Chinese IMEs type them)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(("number", "carrier"), VALID.items())
def test_known_formats_are_valid_and_carrier_guessed(number, carrier):
    checked = tracking.validate(number)
    assert checked.ok and checked.number == number and checked.carrier == carrier


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty"), ("SF12", "length"), ("SF" + "1" * 40, "length"),
    ("SF74444000484€9", "characters"), ("EA123456789CN", "check_digit"),
    ("ZZ12345678", "format"), ("SF74444000484", "format"),
])
def test_malformed_numbers_say_why(raw, reason):
    checked = tracking.validate(raw)
    assert not checked.ok and checked.reason == reason and checked.message


def test_domain_example_check_digit():
    assert tracking.s10_check_digit("12345678") == 5
    assert tracking.s10_valid("EA123456785CN") and not tracking.s10_valid("EA123456789CN")


def test_pasted_forms_normalise():
    assert tracking.normalise(" sf-7444 4000－48449 ") == "SF7444400048449"
    assert tracking.normalise(to_full_width("sf7444400048449")) == "SF7444400048449"
    assert tracking.normalise("ＳＦ７４４４４０００４８４４９") == "SF7444400048449"


def test_split_on_newlines_commas_and_spaces():
    text = "SF7444400048449\nJT0006968326954, jdva11408814483，1240921381750 77316523125896"
    raws, truncated = tracking.split_numbers(text)
    assert [tracking.normalise(r) for r in raws] == [
        "SF7444400048449", "JT0006968326954", "JDVA11408814483", "1240921381750",
        "77316523125896"]
    assert not truncated


def test_a_spaced_number_stays_whole():
    raws, _ = tracking.split_numbers("SF 7444 4000 48449")
    assert [tracking.normalise(r) for r in raws] == ["SF7444400048449"]


def test_at_most_fifty_and_duplicates_dropped():
    numbers = [f"SF{n:013d}" for n in range(60)]
    raws, truncated = tracking.split_numbers("\n".join(numbers + numbers[:3]))
    assert len(raws) == 50 and truncated
    raws, truncated = tracking.split_numbers("SF7444400048449 sf7444400048449")
    assert len(raws) == 1 and not truncated


def test_company_patterns_from_config(app_ctx):
    app_ctx.config["PARCEL_TRACKING_PATTERNS"] = r"KD\d{10}=Kuaidi Own"
    assert tracking.validate("KD0123456789").carrier == "Kuaidi Own"
    app_ctx.config["PARCEL_TRACKING_BUILTIN"] = False
    assert not tracking.validate("SF7444400048449").ok
    assert tracking.validate("EA123456785CN").ok  # S10 is checked by its digit, always


serials = st.text(alphabet=string.digits, min_size=8, max_size=8)
letters = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)


@given(serials, letters, letters)
def test_s10_exactly_one_check_digit_is_valid(serial, service, country):
    good = tracking.s10_check_digit(serial)
    valid = [d for d in range(10)
             if tracking.s10_valid(f"{service}{serial}{d}{country}")]
    assert valid == [good]


@given(serials)
def test_s10_check_digit_follows_the_upu_rule(serial):
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    expected = 11 - total % 11
    expected = 0 if expected == 10 else 5 if expected == 11 else expected
    assert tracking.s10_check_digit(serial) == expected


@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40),
       st.lists(st.sampled_from([" ", "-", "－", "\u3000", "—"]), max_size=4))
def test_full_width_and_noise_round_trip(text, noise):
    noisy = to_full_width(text)
    for i, mark in enumerate(noise):
        position = (i * 7) % (len(noisy) + 1)
        noisy = noisy[:position] + mark + noisy[position:]
    assert tracking.normalise(noisy) == text.upper()
    assert tracking.validate(noisy).ok == tracking.validate(text).ok


@given(st.text(max_size=300))
def test_any_input_splits_and_validates_without_error(text):
    checked, _ = tracking.check_many(text)
    assert len(checked) <= tracking.MAX_PER_LOOKUP
    for item in checked:
        assert item.ok or item.reason in tracking.REASONS
