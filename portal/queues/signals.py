"""Escalation signals: phrases that say a complaint is about to leave the company (the
postal authority's 12305 hotline, the media, a lawyer) and repeated contacts.

The keyword list is maintained per language in ``EscalationKeyword`` (supervisors edit
it); with no rows the built-in list below applies. Every active keyword of every language
is looked for (customers mix languages); Latin keywords match whole words only ("sue"
does not match "issue"), Chinese ones anywhere. A signal raises the case's priority and
tags it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, or_, select

from portal import db_direct
from portal.config_cache import cached
from portal.extensions import db
from portal.queues.models import EscalationKeyword, Priority

# (keyword, tag, priority) per language
BUILTIN: dict[str, list[tuple[str, str, int]]] = {
    "zh_Hans": [("12305", "12305", Priority.URGENT), ("邮政管理局", "12305", Priority.URGENT),
                ("投诉", "complaint-threat", Priority.HIGH), ("媒体", "media", Priority.HIGH),
                ("曝光", "media", Priority.HIGH), ("记者", "media", Priority.HIGH),
                ("律师", "lawyer", Priority.HIGH), ("起诉", "lawyer", Priority.HIGH),
                ("法院", "lawyer", Priority.HIGH), ("消协", "consumer-association",
                                                   Priority.HIGH)],
    "zh_Hant": [("12305", "12305", Priority.URGENT), ("郵政管理局", "12305", Priority.URGENT),
                ("投訴", "complaint-threat", Priority.HIGH), ("媒體", "media", Priority.HIGH),
                ("曝光", "media", Priority.HIGH), ("記者", "media", Priority.HIGH),
                ("律師", "lawyer", Priority.HIGH), ("起訴", "lawyer", Priority.HIGH),
                ("法院", "lawyer", Priority.HIGH), ("消委會", "consumer-association",
                                                   Priority.HIGH)],
    "en": [("12305", "12305", Priority.URGENT), ("postal authority", "12305", Priority.URGENT),
           ("lawyer", "lawyer", Priority.HIGH), ("attorney", "lawyer", Priority.HIGH),
           ("sue", "lawyer", Priority.HIGH), ("legal action", "lawyer", Priority.HIGH),
           ("media", "media", Priority.HIGH), ("journalist", "media", Priority.HIGH),
           ("newspaper", "media", Priority.HIGH), ("go public", "media", Priority.HIGH),
           ("consumer association", "consumer-association", Priority.HIGH)],
}
REPEAT_TAG = "repeat-contact"


@dataclass(frozen=True)
class Signal:
    """One escalation signal found in a case."""

    tag: str
    priority: int
    keyword: str = ""
    language: str = ""

    def explain(self) -> str:
        """Readable reason."""
        if self.keyword:
            return f"signal '{self.keyword}' ({self.language}) -> {self.tag}"
        return f"signal {self.tag}"


def _load_keywords() -> list[tuple[str, str, str, int]]:
    rows = db.session.execute(select(
        EscalationKeyword.language, EscalationKeyword.keyword, EscalationKeyword.tag,
        EscalationKeyword.priority, EscalationKeyword.active)).all()
    if not rows:
        return [(lang, kw, tag, int(p)) for lang, items in BUILTIN.items()
                for kw, tag, p in items]
    return [(lang, kw, tag, int(p)) for lang, kw, tag, p, active in rows if active]


_keywords = cached("escalation_keywords", (EscalationKeyword,), _load_keywords)


def keywords() -> list[tuple[str, str, str, int]]:
    """(language, keyword, tag, priority) of the active list (built-in when empty); kept
    per process (see portal.config_cache)."""
    return _keywords()


def ensure_defaults() -> int:
    """Store the built-in list when the table is empty (so staff can edit it)."""
    if db.session.scalar(select(func.count()).select_from(EscalationKeyword)):
        return 0
    count = 0
    for lang, items in BUILTIN.items():
        for keyword, tag, priority in items:
            db.session.add(EscalationKeyword(language=lang, keyword=keyword, tag=tag,
                                             priority=int(priority)))
            count += 1
    db.session.flush()
    return count


def _matches(keyword: str, text: str) -> bool:
    keyword = keyword.strip().lower()
    if not keyword:
        return False
    if keyword.isascii():
        return re.search(r"(?<![a-z0-9])" + re.escape(keyword) + r"(?![a-z0-9])", text) is not None
    return keyword in text


def find_signals(text: str, items: list[tuple[str, str, str, int]] | None = None) -> list[Signal]:
    """The keyword signals in ``text`` (one per tag, the most urgent keyword kept)."""
    lowered = (text or "").lower()
    found: dict[str, Signal] = {}
    for language, keyword, tag, priority in items if items is not None else keywords():
        if _matches(keyword, lowered):
            current = found.get(tag)
            if current is None or priority < current.priority:
                found[tag] = Signal(tag, int(priority), keyword, language)
    return sorted(found.values(), key=lambda s: (s.priority, s.tag))


_EARLIER: dict[tuple, object] = {}


def earlier_count_statement(phone: bool, email: bool):
    """The count of the cases filed with this phone or email (for a case not stored yet);
    ``phone`` and ``email`` bind parameters."""
    return _earlier_statement(phone, email, False, False)


def _earlier_statement(phone: bool, email: bool, before: bool, since: bool):
    """The count statement for one combination of criteria, built once (every claim runs
    it: building it per call costs more than the database takes to answer)."""
    key = (phone, email, before, since)
    statement = _EARLIER.get(key)
    if statement is None:
        from portal.cases.models import Case

        cases = Case.__table__.c
        clauses = ([cases.phone_e164 == bindparam("phone")] if phone else []) + \
            ([cases.email == bindparam("email")] if email else [])
        statement = select(func.count()).select_from(Case.__table__).where(or_(*clauses))
        if before:  # the case itself is stored: only those filed before it
            statement = statement.where(cases.id < bindparam("case_id"))
        if since:
            statement = statement.where(cases.created_at >= bindparam("since"))
        _EARLIER[key] = statement
    return statement


def earlier_cases(case, within_days: int | None = None) -> int:
    """How many earlier cases the same customer (phone or email) has filed (the filing's
    own count when it made one: ``Case.earlier_cases_hint``)."""
    if not case.phone_e164 and not case.email:
        return 0
    hint = getattr(case, "earlier_cases_hint", None)
    if hint is not None and not within_days:
        return hint
    params = {"phone": case.phone_e164, "email": case.email, "case_id": case.id}
    if within_days:
        params["since"] = (case.created_at or datetime.now().astimezone()) - timedelta(
            days=within_days)
    statement = _earlier_statement(bool(case.phone_e164), bool(case.email),
                                   case.id is not None, bool(within_days))
    return int(db_direct.fetch_all(db.session.connection(), statement, params)[0][0] or 0)


def repeat_signal(contacts: int, earlier: int) -> Signal | None:
    """Repeated contacts: several messages on this case, or several recent cases."""
    config = current_app.config
    if (contacts >= int(config.get("QUEUES_REPEAT_MESSAGES", 3))
            or earlier >= int(config.get("QUEUES_REPEAT_CASES", 2))):
        return Signal(REPEAT_TAG, Priority.HIGH)
    return None
