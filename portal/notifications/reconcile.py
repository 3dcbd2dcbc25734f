"""Reconciliation: did the provider already accept a message whose outcome was never
recorded?

A worker that dies after Twilio accepted a message but before the outcome was committed
leaves the row ``sending``. When its lease expires, ``delivery.recover_stuck`` asks the
provider for the messages it holds for that number (Twilio: ``GET Messages.json?To=...``,
one page, newest first) and :func:`match_sent` picks the one that is this row: same
``to``, same body, outbound, created inside the window that starts when the row was leased
(minus a clock-skew allowance) and ends now, and not already claimed by another outbox
row (two identical texts to one number are two messages). Only then is the row marked
sent; otherwise it goes back to pending and is sent again.

:func:`match_sent` is a pure function (tested without any provider); the adapters only
fetch the candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


class ReconcileUnavailable(RuntimeError):
    """The provider could not be asked; the row must stay leased and be tried later."""


@dataclass(frozen=True)
class SentRecord:
    """A message as the provider lists it."""

    sid: str
    to: str
    body: str
    date_created: datetime | None
    direction: str = "outbound-api"
    status: str = ""
    from_: str = ""


def _same_number(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def _same_body(a: str, b: str) -> bool:
    # Twilio stores the body as sent; line-end normalisation is the only change seen.
    return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()


def match_sent(records: Iterable[SentRecord], to: str, body: str, since: datetime,
               until: datetime, exclude_sids: set[str] | frozenset[str] = frozenset(),
               skew: timedelta = timedelta(seconds=60)) -> SentRecord | None:
    """The provider's record of this message, or None.

    ``since`` is when the row was leased (the provider cannot have it from before), ``until``
    is now; both are widened by ``skew`` for clock differences. Among several matches the
    earliest wins (it is the one this lease sent).
    """
    found = []
    for record in records:
        if record.sid in exclude_sids or not record.direction.startswith("outbound"):
            continue
        if record.status == "canceled":
            continue
        if not (_same_number(record.to, to) and _same_body(record.body, body)):
            continue
        if record.date_created is None:
            continue
        if not since - skew <= record.date_created <= until + skew:
            continue
        found.append(record)
    if not found:
        return None
    return min(found, key=lambda r: (r.date_created, r.sid))
