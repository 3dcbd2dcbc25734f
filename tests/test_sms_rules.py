"""SMS segment counting, shortening and the +86 signature (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.notifications import sms

GSM_BASIC = sorted(sms.GSM7_BASIC)
GSM_EXT = sorted(sms.GSM7_EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXT), max_size=700)
any_text = st.text(max_size=700)


def test_known_boundaries():
    assert sms.segments("a" * 160) == 1
    assert sms.segments("a" * 161) == 2
    assert sms.segments("a" * 306) == 2
    assert sms.segments("a" * 307) == 3
    assert sms.segments("中" * 70) == 1
    assert sms.segments("中" * 71) == 2
    assert sms.segments("中" * 134) == 2
    assert sms.segments("中" * 135) == 3
    # an extension character takes two septets
    assert sms.segments("€" * 80) == 1
    assert sms.segments("€" * 81) == 2
    # one non-GSM character turns the whole message into UCS-2
    assert sms.segments("a" * 70) == 1 and sms.segments("a" * 70 + "中") == 2
    # emoji are surrogate pairs: two UTF-16 units
    assert sms.units("👍") == 2 and sms.segments("👍" * 35) == 1
    assert sms.segments("👍" * 36) == 2


def test_escape_pair_never_straddles_a_segment():
    # 152 plain septets then an escape pair: the pair moves to the second segment
    text = "a" * 152 + "€" + "a" * 152
    assert sms.units(text) == 306
    assert sms.segments(text) == 3


@given(gsm_text)
def test_gsm_segments_match_the_formula_without_extension_chars(text):
    plain = "".join(ch for ch in text if ch not in sms.GSM7_EXTENSION)
    n = len(plain)
    expected = 1 if n <= 160 else -(-n // 153)
    assert sms.segments(plain) == expected


@given(any_text)
def test_ucs2_counts_utf16_units(text):
    text = text + "中"
    n = len(text.encode("utf-16-le")) // 2
    assert sms.units(text) == n
    if n <= 70:
        assert sms.segments(text) == 1
    else:
        assert sms.segments(text) >= -(-n // 67)


@settings(max_examples=200)
@given(st.one_of(gsm_text, any_text), st.integers(min_value=1, max_value=5))
def test_fit_respects_the_limit_and_keeps_a_prefix(text, limit):
    result = sms.fit(text, limit)
    assert sms.segments(result) <= limit
    assert len(result) <= sms.MAX_BODY_CHARS
    if sms.segments(text) <= limit and len(text) <= sms.MAX_BODY_CHARS:
        assert result == text
    else:
        ellipsis = "..." if sms.is_gsm7(text) else "…"
        assert result.endswith(ellipsis)
        assert text.startswith(result[: -len(ellipsis)])


@given(st.text(min_size=1, max_size=400), st.integers(min_value=1, max_value=4))
def test_fit_keeps_the_suffix_whole(text, limit):
    suffix = " 回复TD退订"
    result = sms.fit(text, limit, suffix)
    if sms.segments(result) <= limit:
        assert result.endswith(suffix)


@given(st.text(max_size=300), st.integers(min_value=1, max_value=3))
def test_prepare_adds_signature_for_china_only(text, limit):
    cn = sms.prepare("通知：" + text, "+8613800138000", "【速递】", limit)
    hk = sms.prepare("通知：" + text, "+85291234567", "【速递】", limit)
    assert cn.startswith("【速递】") and not hk.startswith("【速递】")
    assert sms.segments(cn) <= limit and sms.segments(hk) <= limit


def test_signature_is_not_doubled():
    assert sms.with_signature("【速递】hi", "+8613800138000", "【速递】") == "【速递】hi"


def test_fit_rejects_zero_segments():
    with pytest.raises(ValueError):
        sms.fit("x", 0)
