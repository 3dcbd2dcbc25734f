"""Keyword commands texted to the hotline, in Chinese and English.

``parse`` turns one inbound SMS into a :class:`Command`. It is tolerant of case, spaces
and full-width characters (everything goes through NFKC first, so ``ＴＤ``, ``ｓｕｂ`` and
``ＳＦ１２３…`` read as ``TD``, ``SUB`` and ``SF123…``). In order:

1. Twilio's own keywords (only a whole message counts, as at Twilio): ``STOP``,
   ``STOPALL``, ``UNSUBSCRIBE``, ``CANCEL``, ``END``, ``QUIT`` -> ``twilio_stop``;
   ``START``, ``YES``, ``UNSTOP`` -> ``twilio_start``. Twilio answers these itself.
2. ``TD`` / ``退订`` (also ``退訂``) -> ``unsubscribe``: the usual opt-out word in China.
3. ``HELP``, ``INFO``, ``帮助``, ``幫助``, ``?`` -> ``help``.
4. ``SUB <tracking>``, ``SUBSCRIBE <tracking>``, ``订阅 <单号>`` / ``訂閱`` (space optional)
   -> ``subscribe`` with the numbers.
5. A case reference (``CS-XXXX-XXXX``, any case, spaces or dashes) -> ``case``.
6. One or more tracking numbers, optionally after a query word (``查询``, ``查``, ``CHECK``,
   ``TRACK``...) -> ``tracking``; malformed ones are kept so the answer can say so, like
   the public look-up does.
7. Anything else -> ``other``, with ``complaint`` set when it reads as one (keyword list
   per language, extendable with ``HOTLINE_COMPLAINT_WORDS``) and the tracking numbers it
   mentions.

The parser is pure (no database, no app needed) so it can be tested with hypothesis.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from portal.parcels import tracking
from portal.references import is_valid_reference, normalise_reference

TWILIO_STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
TWILIO_START = frozenset({"START", "YES", "UNSTOP"})
UNSUBSCRIBE_WORDS = frozenset({"TD", "退订", "退訂", "T D"})
HELP_WORDS = frozenset({"HELP", "INFO", "帮助", "幫助", "?", "？", "H"})
SUBSCRIBE_PREFIX = re.compile(r"^(?:SUBSCRIBE|SUB|订阅|訂閱|关注|關注)\s*[:：]?\s*(?P<rest>.*)$",
                              re.DOTALL)
QUERY_PREFIX = re.compile(
    r"^(?:查询|查詢|查件|查|CHECK|TRACK|QUERY|STATUS|状态|狀態)\s*[:：]?\s*(?P<rest>.*)$",
    re.DOTALL)
REFERENCE = re.compile(r"(?<![A-Z0-9])CS[\s\-_./]*([A-Z0-9]{4})[\s\-_./]*([A-Z0-9]{4})(?![A-Z0-9])")
NUMBERISH = re.compile(r"^[A-Z0-9\-]*\d[A-Z0-9\-]*$")
WORD = re.compile(r"[A-Za-z0-9]+")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

COMPLAINT_WORDS = (
    # Simplified
    "投诉", "差评", "举报", "赔偿", "索赔", "理赔", "丢失", "丢了", "丢件", "弄丢", "损坏",
    "破损", "坏了", "摔坏", "延误", "太慢", "还没到", "没收到", "未收到", "没有收到", "不送",
    "不上门", "态度", "骂", "骗", "退款", "垃圾", "气死", "不满", "虚假签收", "代签", "12305",
    # Traditional
    "投訴", "差評", "舉報", "賠償", "索賠", "理賠", "遺失", "丟失", "丟了", "損壞", "破損",
    "壞了", "延誤", "太慢", "還沒到", "沒收到", "未收到", "態度", "騙", "退款", "垃圾", "不滿",
    # English (matched as words, lower case)
    "complain", "complaint", "lost", "damaged", "broken", "refund", "compensation",
    "compensate", "never arrived", "not arrived", "not received", "never received",
    "delayed", "terrible", "awful", "worst", "unacceptable", "rude", "scam", "angry",
)


@dataclass(frozen=True)
class Command:
    """What an inbound message asks for."""

    kind: str  # twilio_stop | twilio_start | unsubscribe | help | subscribe | case |
    #            tracking | other | empty
    numbers: tuple[str, ...] = ()  # raw tracking numbers as typed (tracking, subscribe)
    reference: str = ""  # normalised case reference (case)
    text: str = ""  # the message, normalised (NFKC, trimmed)
    complaint: bool = False  # other: reads as a complaint
    mentioned: tuple[str, ...] = field(default=())  # other: valid tracking numbers in it


def normalise(text: str | None) -> str:
    """NFKC (full-width to ASCII), invisible characters dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"[\u200b-\u200d\u2060\ufeff]", "", text)
    return " ".join(text.split())


def _keyword(text: str) -> str:
    """The message as a keyword candidate: upper case, end punctuation dropped."""
    return text.upper().strip(" .!。！,，~")


def _numbers_only(rest: str) -> tuple[str, ...] | None:
    """The raw numbers when ``rest`` is nothing but tracking-number-like tokens."""
    raws, _truncated = tracking.split_numbers(rest)
    if not raws:
        return None
    if all(NUMBERISH.match(tracking.normalise(raw)) for raw in raws):
        return tuple(raws)
    return None


def is_complaint(text: str, extra_words: tuple[str, ...] = ()) -> bool:
    """True when ``text`` reads as a complaint (keyword list per language)."""
    lowered = text.lower()
    for word in (*COMPLAINT_WORDS, *extra_words):
        word = word.strip().lower()
        if not word:
            continue
        if word.isascii() and word[0].isalpha():
            if re.search(rf"(?<![a-z]){re.escape(word)}", lowered):
                return True
        elif word in lowered:
            return True
    return False


def mentioned_numbers(text: str) -> tuple[str, ...]:
    """Valid tracking numbers found anywhere in free text (normalised)."""
    found: list[str] = []
    for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]{6,}", text):
        checked = tracking.validate(token)
        if checked.ok and checked.number not in found:
            found.append(checked.number)
    return tuple(found)


def parse(body: str | None, extra_complaint_words: tuple[str, ...] = ()) -> Command:
    """Read one inbound SMS (see the module docstring for the rules, in order)."""
    text = normalise(body)
    if not text:
        return Command("empty")
    word = _keyword(text)
    if word in TWILIO_STOP:
        return Command("twilio_stop", text=text)
    if word in TWILIO_START:
        return Command("twilio_start", text=text)
    if word in UNSUBSCRIBE_WORDS or word.replace(" ", "") in UNSUBSCRIBE_WORDS:
        return Command("unsubscribe", text=text)
    if word in HELP_WORDS:
        return Command("help", text=text)
    upper = text.upper()
    sub = SUBSCRIBE_PREFIX.match(upper)
    if sub:
        numbers = _numbers_only(sub.group("rest"))
        if numbers:
            return Command("subscribe", numbers=numbers, text=text)
        if not sub.group("rest").strip():
            return Command("subscribe", text=text)  # no number: the reply says how
    ref = REFERENCE.search(upper)
    if ref:
        reference = normalise_reference("CS" + ref.group(1) + ref.group(2))
        rest = (upper[:ref.start()] + upper[ref.end():]).strip()
        rest = QUERY_PREFIX.sub(r"\g<rest>", rest).strip(" ?？.。")
        if is_valid_reference(reference) and not rest:
            return Command("case", reference=reference, text=text)
    query = QUERY_PREFIX.match(upper)
    rest = query.group("rest") if query else upper
    numbers = _numbers_only(rest)
    if numbers:
        return Command("tracking", numbers=numbers, text=text)
    return Command("other", text=text,
                   complaint=is_complaint(text, extra_complaint_words),
                   mentioned=mentioned_numbers(text))


def evidence_language(command: Command) -> str | None:
    """The language a message is written in, when its words say so.

    Chinese characters anywhere decide for Chinese (script from :func:`chinese_script`).
    English is only inferred from free text (``other``): keywords, numbers and references
    are language-neutral (Chinese customers type ``TD`` and ``SUB`` too). None when the
    message does not tell.
    """
    stripped = REFERENCE.sub(" ", command.text.upper())
    if CJK.search(stripped):
        return chinese_script(stripped)
    if command.kind != "other":
        return None
    words = [w for w in WORD.findall(stripped) if w.isalpha() and len(w) >= 2]
    return "en" if words else None


def chinese_script(text: str) -> str:
    """``zh_Hant`` when ``text`` has characters only Traditional uses, ``zh_Hans`` when it
    has characters only Simplified uses, ``zh`` when it cannot tell."""
    from portal.content import _converter

    chars = "".join(CJK.findall(text))
    try:
        to_simplified = _converter("t2s").convert(chars)
        to_traditional = _converter("s2t").convert(chars)
    except Exception:
        return "zh"
    traditional = sum(a != b for a, b in zip(chars, to_simplified, strict=False))
    simplified = sum(a != b for a, b in zip(chars, to_traditional, strict=False))
    if traditional > simplified:
        return "zh_Hant"
    if simplified > traditional:
        return "zh_Hans"
    return "zh"
