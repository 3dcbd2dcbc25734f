"""The hotline's keyword parser: Chinese and English, case, spaces and full-width forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.hotline.commands import evidence_language, is_complaint, normalise, parse

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel",
                                  "END", "quit", "ＳＴＯＰ"])
def test_twilio_opt_out_words(text):
    assert parse(text).kind == "twilio_stop"


@pytest.mark.parametrize("text", ["START", "start", "YES", "unstop", "ｓｔａｒｔ"])
def test_twilio_opt_in_words(text):
    assert parse(text).kind == "twilio_start"


def test_twilio_words_count_only_as_a_whole_message():
    assert parse("please stop sending").kind == "other"
    assert parse("start of my complaint").kind == "other"


@pytest.mark.parametrize("text", ["TD", "td", "T D", "ＴＤ", "ｔｄ", "退订", "退訂", " 退订。"])
def test_td_unsubscribe_in_both_languages(text):
    assert parse(text).kind == "unsubscribe"


@pytest.mark.parametrize("text", ["HELP", "help", "Help!", "INFO", "帮助", "幫助", "？", "?",
                                  "ＨＥＬＰ"])
def test_help(text):
    assert parse(text).kind == "help"


@pytest.mark.parametrize("text", [
    "SUB SF1234567890123", "sub sf1234567890123", "Sub  SF 1234 5678 90123",
    "ＳＵＢ ＳＦ１２３４５６７８９０１２３", "订阅 SF1234567890123", "订阅SF1234567890123",
    "訂閱：SF1234567890123", "subscribe SF1234567890123",
])
def test_subscribe_with_a_number(text):
    command = parse(text)
    assert command.kind == "subscribe"
    assert [n.replace(" ", "").upper() for n in command.numbers] == ["SF1234567890123"]


def test_subscribe_without_a_number_asks_for_one():
    assert parse("订阅").kind == "subscribe" and parse("订阅").numbers == ()
    assert parse("SUB").numbers == ()
    assert parse("SUBWAY is late").kind == "other"


@pytest.mark.parametrize("text", ["CS-2ABC-DEF3", "cs 2abc def3", "cs2abcdef3",
                                  "ＣＳ－２ＡＢＣ－ＤＥＦ３", "查询 CS-2ABC-DEF3", "CS-2ABC-DEF3?"])
def test_case_reference(text):
    command = parse(text)
    assert command.kind == "case" and command.reference == "CS-2ABC-DEF3"


@pytest.mark.parametrize("text,count", [
    ("SF1234567890123", 1), ("sf1234567890123", 1), ("ＳＦ１２３４５６７８９０１２３", 1),
    ("SF1234567890123, YT1234567890123", 2), ("SF1234567890123\nYT1234567890123", 2),
    ("查询 SF1234567890123", 1), ("查SF1234567890123，YT1234567890123", 2),
    ("check SF1234567890123", 1), ("12345", 1),
])
def test_tracking_numbers(text, count):
    command = parse(text)
    assert command.kind == "tracking" and len(command.numbers) == count


@pytest.mark.parametrize("text", ["我的快递丢了，要投诉", "包裹破损了", "三天了还没到，太慢",
                                  "快遞遺失了，我要投訴",
                                  "My parcel SF1234567890123 never arrived", "I want to complain",
                                  "the box was DAMAGED"])
def test_complaints_in_both_languages(text):
    command = parse(text)
    assert command.kind == "other" and command.complaint


@pytest.mark.parametrize("text", ["你好", "hello there", "where is the depot", "谢谢"])
def test_ordinary_text_is_not_a_complaint(text):
    command = parse(text)
    assert command.kind == "other" and not command.complaint


def test_complaint_mentions_tracking_numbers_and_extra_words():
    assert parse("SF1234567890123 lost!").mentioned == ("SF1234567890123",)
    assert not is_complaint("very slow courier")
    assert is_complaint("very slow courier", ("slow",))


@pytest.mark.parametrize("text,language", [
    ("我的包裹在哪里", "zh_Hans"), ("我的包裹在哪裡", "zh_Hant"), ("退訂", "zh_Hant"),
    ("订阅 SF1234567890123", "zh_Hans"), ("where is my parcel", "en"),
    ("SUB SF1234567890123", None), ("TD", None), ("SF1234567890123", None),
    ("cs 2abc def3", None), ("HELP", None),
])
def test_language_evidence(text, language):
    assert evidence_language(parse(text)) == language


@given(st.text(max_size=80))
def test_parser_never_fails_and_is_stable_under_full_width(text):
    command = parse(text)
    assert command.kind in {"twilio_stop", "twilio_start", "unsubscribe", "help", "subscribe",
                            "case", "tracking", "other", "empty"}
    ascii_only = "".join(c for c in text if 0x21 <= ord(c) < 0x7F or c == " ")
    assert parse(ascii_only.translate(FULL_WIDTH)).kind == parse(ascii_only).kind


@given(st.sampled_from(["TD", "SUB SF1234567890123", "HELP", "STOP", "CS-2ABC-DEF3"]),
       st.sampled_from(["", " ", "  "]), st.booleans(), st.booleans())
def test_keywords_tolerate_case_spaces_and_width(word, pad, lower, wide):
    text = word.lower() if lower else word
    text = text.translate(FULL_WIDTH) if wide else text
    assert parse(pad + text + pad).kind == parse(word).kind
    assert normalise(pad + text) == normalise(text)
