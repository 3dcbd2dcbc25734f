"""Turn one file row (or one API object) into a staging tuple, or say why it is rejected.

Empty cells and missing columns mean "keep what is stored" (``None``). Phones are turned
into the foundation's last-4 HMAC bound to the tracking number at once and never kept.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.parcels import tracking
from portal.parcels.models import Situation
from portal.verification import TailDigester

#: Staging columns, in order (``line`` first).
STAGE_COLUMNS = (
    "line", "tracking_number", "carrier", "service_line", "situation", "origin_province",
    "origin_city", "destination_province", "destination_city", "expected_delivery",
    "last_location", "last_seen_at", "recipient_tail", "sender_tail",
)
TEXT_LIMITS = {"carrier": 60, "service_line": 60, "origin_province": 60, "origin_city": 60,
               "destination_province": 60, "destination_city": 60, "last_location": 120}

SITUATION_WORDS: dict[str, Situation] = {}
for _situation, _words in {
    Situation.DELAYED: ("delayed", "delay", "late", "延误", "延迟", "延誤", "延遲", "晚到"),
    Situation.HELD: ("held", "hold", "on hold", "stuck", "滞留", "扣留", "暂扣", "滯留", "积压"),
    Situation.REROUTED: ("rerouted", "reroute", "diverted", "改道", "转运", "改派", "轉運"),
    Situation.DAMAGED: ("damaged", "damage", "破损", "损坏", "受损", "破損", "損壞"),
    Situation.LOST: ("lost", "missing", "丢失", "遗失", "丢件", "遺失", "丟失"),
    Situation.RETURNED: ("returned", "return", "returned to sender", "退回", "退件", "退回寄件人",
                         "退回发件人"),
    Situation.DELIVERED: ("delivered", "已签收", "签收", "已送达", "送达", "已簽收", "妥投"),
}.items():
    for _word in (_situation.value, *_words):
        SITUATION_WORDS[_word] = _situation

REASONS = {
    "situation": _l("Unknown situation %(value)s (use delayed, held, rerouted, damaged, lost, "
                    "returned or delivered)."),
    "date": _l("The new expected delivery date %(value)s is not a date (use YYYY-MM-DD)."),
    "time": _l("The last known time %(value)s is not a date and time (use YYYY-MM-DD HH:MM)."),
    "phone": _l("The %(which)s phone %(value)s does not have 4 digits."),
    "duplicate": _l("The same tracking number appears again on line %(value)s; that line "
                    "was used."),
    "missing": _l("No tracking number."),
}
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME = re.compile(r"(\d{1,2})\s*[:时點点]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}))?")


class RowError(ValueError):
    """A rejected row: ``reason`` is shown to staff."""

    def __init__(self, reason: str):
        """Keep the reason text."""
        super().__init__(reason)
        self.reason = reason


def reason(key: str, **values) -> str:
    """A rejection reason in the current language."""
    return str(REASONS[key]) % values if values else str(REASONS[key]) % {"value": ""}


def _text(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():  # the common case: no full-width forms to fold
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def parse_situation(value) -> str | None:
    """Map a situation word (English or Chinese) to a ``Situation`` value; None if empty."""
    text = _text(value).lower()
    if not text:
        return None
    found = SITUATION_WORDS.get(text) or SITUATION_WORDS.get(text.replace("_", " "))
    if found is None:
        raise RowError(reason("situation", value=repr(_text(value)[:40])))
    return found.value


def parse_date(value) -> date | None:
    """A date from a cell: a date object, ``2026-03-05``, ``2026/3/5``, ``2026年3月5日``."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    text = _text(value)
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:  # the common YYYY-MM-DD, parsed in C; anything odd takes the general path
            return date.fromisoformat(text)
        except ValueError:
            pass
    match = _DATE.fullmatch(text) or _DATE.match(text) or _COMPACT_DATE.fullmatch(text)
    try:
        if not match:
            raise ValueError(text)
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as error:
        raise RowError(reason("date", value=repr(text[:40]))) from error


def local_zone() -> ZoneInfo:
    """The zone naive times in files are read in (``BABEL_DEFAULT_TIMEZONE``)."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))


def parse_time(value, zone: ZoneInfo) -> datetime | None:
    """An aware UTC time from a cell; naive values are in ``zone``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            day = _DATE.match(text)
            clock = _TIME.search(text[day.end():]) if day else None
            try:
                if not day:
                    raise ValueError(text) from None
                moment = datetime(int(day[1]), int(day[2]), int(day[3]),
                                  int(clock[1]) if clock else 0, int(clock[2]) if clock else 0,
                                  int(clock[3] or 0) if clock else 0)
            except ValueError as error:
                raise RowError(reason("time", value=repr(text[:40]))) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


class RowCleaner:
    """Clean rows whose cells are at known column indexes (or dict keys for the API).

    The hot path of an import (once per row): column positions are resolved once, dict
    rows (the API) are turned into lists in the same order, and the phone digests use the
    foundation's ``TailDigester`` (same digests as ``phone_tail_digest``).
    """

    def __init__(self, columns: dict[str, int | str]):
        """``columns`` maps canonical names to a cell index (files) or key (API objects)."""
        self.columns = columns
        self.zone = local_zone()
        self.patterns = tracking.patterns()
        self.recipient_label = str(_l("recipient's"))
        self.sender_label = str(_l("sender's"))
        self._digest = TailDigester()
        self._situations: dict[str, str | None] = {}
        # Dict rows become lists in the order of ``_keys``; file rows keep their indexes.
        self._keys = [where for where in columns.values() if not isinstance(where, int)]
        slots = {key: index for index, key in enumerate(self._keys)}
        self._pos = {name: (where if isinstance(where, int) else slots[where])
                     for name, where in columns.items()}
        self._width = max(self._pos.values(), default=-1) + 1
        self._texts = [(slot, self._pos[name], limit)
                       for slot, (name, limit) in enumerate(TEXT_LIMITS.items())
                       if name in self._pos]
        self._number_at = self._pos.get("tracking_number")
        self._at = [self._pos.get(name) for name in (
            "situation", "expected_delivery", "last_seen_at", "recipient_phone", "sender_phone")]
        self._times: dict[str, datetime | None] = {}

    def _cells(self, cells) -> list:
        if isinstance(cells, dict):
            return [cells.get(key) for key in self._keys]
        if len(cells) < self._width:
            return [*cells, *([None] * (self._width - len(cells)))]
        return cells

    def _get(self, cells, name: str):
        where = self._pos.get(name)
        return None if where is None else self._cells(cells)[where]

    def raw_number(self, cells) -> str:
        """The tracking number cell as typed (for the rejected-rows report)."""
        return _text(self._get(cells, "tracking_number"))[:60]

    def _situation(self, value) -> str | None:
        # Files repeat a handful of words: remember each spelling's answer (errors too).
        if not isinstance(value, str):
            return parse_situation(value)
        found = self._situations.get(value, _UNSEEN)
        if found is _UNSEEN:
            try:
                found = parse_situation(value)
            except RowError as error:
                found = error
            if len(self._situations) < 1000:
                self._situations[value] = found
        if isinstance(found, RowError):
            raise RowError(found.reason)
        return found

    def _phone(self, value, number: str, which: str) -> str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        if not (text.isascii() and text.isdigit()):
            text = _text(text)
            if not text:
                return None
        digest = self._digest(text, number)
        if digest is None:
            raise RowError(reason("phone", which=which, value=repr(text[:4] + "…")))
        return digest

    def _time(self, value) -> datetime | None:
        # Scan times repeat (minute resolution, a few hubs): remember each text's answer.
        if not isinstance(value, str):
            return parse_time(value, self.zone)
        found = self._times.get(value)
        if found is None:
            found = parse_time(value, self.zone)
            if len(self._times) < 4096:
                self._times[value] = found
        return found

    def clean(self, line: int, cells) -> tuple:
        """Return the staging tuple for a row, or raise ``RowError``."""
        cells = self._cells(cells)
        raw = cells[self._number_at] if self._number_at is not None else None
        text = _text(raw)
        if not text:
            raise RowError(reason("missing"))
        number = tracking.normalise(text)
        ok, carrier, why = tracking.verdict(number, self.patterns)
        if not ok:
            raise RowError(tracking.Checked(str(raw), number, False, reason=why).message)
        texts = [None] * 7
        for slot, where, limit in self._texts:
            texts[slot] = _text(cells[where])[:limit] or None
        at = self._at
        return (
            line, number, texts[0] or carrier, texts[1],
            self._situation(cells[at[0]]) if at[0] is not None else None,
            texts[2], texts[3], texts[4], texts[5],
            parse_date(cells[at[1]]) if at[1] is not None else None,
            texts[6],
            self._time(cells[at[2]]) if at[2] is not None else None,
            self._phone(cells[at[3]], number, self.recipient_label)
            if at[3] is not None else None,
            self._phone(cells[at[4]], number, self.sender_label) if at[4] is not None else None,
        )


_UNSEEN = object()
