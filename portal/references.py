"""Short, unambiguous, readable public references, unique per kind.

The alphabet leaves out 0/O, 1/I/L and U/V look-alikes so a reference can be read out on
the phone. A reference is ``<PREFIX>-<XXXX>-<XXXX>``; uniqueness is enforced by the
``public_reference`` table's primary key (kind, code), inside the caller's transaction.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import bindparam, text

from portal import db_direct
from portal.db import UTCDateTime, utcnow
from portal.extensions import db

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
GROUP = 4
GROUPS = 2
PREFIXES = {"incident": "IN", "case": "CS"}
_AMBIGUOUS = str.maketrans({"0": "O", "1": "I", "L": "I", "U": "V"})
_FORMAT = re.compile(rf"^[A-Z]{{2}}-[{ALPHABET}]{{{GROUP}}}-[{ALPHABET}]{{{GROUP}}}$")


class ReferenceSpaceExhausted(RuntimeError):
    """No free reference could be found (the space is exhausted)."""


def _random_code(kind: str) -> str:
    prefix = PREFIXES.get(kind, kind[:2].upper())
    groups = ["".join(secrets.choice(ALPHABET) for _ in range(GROUP)) for _ in range(GROUPS)]
    return "-".join([prefix, *groups])


# Plain SQL understood by PostgreSQL and SQLite (>= 3.24); the dialect-specific insert()
# constructs with on_conflict_do_nothing() are not cacheable and would be compiled anew on
# every call.
_INSERT = text("INSERT INTO public_reference (kind, code, created_at) "
               "VALUES (:kind, :code, :created_at) ON CONFLICT DO NOTHING"
               ).bindparams(bindparam("created_at", type_=UTCDateTime))


def attempt(kind: str) -> dict:
    """The values of one attempt at a reference of ``kind``: a random code to insert into
    ``public_reference`` (``kind``, ``code``, ``created_at``)."""
    return {"kind": kind, "code": _random_code(kind), "created_at": utcnow()}


_RESERVING = None


def reserving_cte():
    """PostgreSQL: the ``INSERT`` of one attempt (parameters ``ref_kind``, ``ref_code``,
    ``ref_at``) as a common table expression whose one column ``code`` is the code when it
    was free and nothing when it was taken, for a caller that reserves a reference in a
    statement it sends anyway (one round trip less; see ``portal.cases.lookups``)."""
    global _RESERVING
    if _RESERVING is None:
        from sqlalchemy.dialects.postgresql import insert

        from portal.models import PublicReference

        table = PublicReference.__table__
        _RESERVING = (insert(table).values(
            kind=bindparam("ref_kind"), code=bindparam("ref_code"),
            created_at=bindparam("ref_at", type_=UTCDateTime))
            .on_conflict_do_nothing().returning(table.c.code).cte("new_reference"))
    return _RESERVING


def new_reference(kind: str, attempts: int = 20) -> str:
    """Issue a fresh reference of ``kind`` and record it in the caller's transaction.

    One ``INSERT ... ON CONFLICT DO NOTHING`` per attempt: a code already taken (by this
    or a concurrent transaction) inserts nothing and another code is drawn, without a
    savepoint or an exception."""
    for _ in range(attempts):
        values = attempt(kind)
        if db_direct.write(db.session.connection(), _INSERT, values) == 1:
            return values["code"]
    raise ReferenceSpaceExhausted(f"no free {kind} reference after {attempts} attempts")


def normalise_reference(text: str) -> str:
    """Clean up a reference typed or read back by a customer.

    Upper-cases, converts full-width characters, drops spaces, maps look-alikes (0->O is
    not used; O and 0 both become the letter O, which is then invalid) and re-inserts the
    dashes, so ``cs 2abc def3`` becomes ``CS-2ABC-DEF3``.
    """
    import unicodedata

    cleaned = unicodedata.normalize("NFKC", text or "").upper()
    # Separators, including the dashes a Chinese input method types (— U+2014, － after
    # NFKC) and the minus sign.
    cleaned = re.sub(r"[\s\-_./\u2010-\u2015\u2212]", "", cleaned)
    if len(cleaned) == 2 + GROUP * GROUPS:
        body = cleaned[2:].translate(_AMBIGUOUS)
        cleaned = "-".join([cleaned[:2], body[:GROUP], body[GROUP:]])
    return cleaned


def is_valid_reference(text: str) -> bool:
    """True when ``text`` has the shape of a reference (after normalising)."""
    return bool(_FORMAT.match(text))
