"""What filing a claim reads before it writes, in one statement: the customer's open case
for the same parcel and type, the affected-parcel record of the tracking number, the
customer's earlier cases and suppressed contacts (``first_look``); on PostgreSQL the same
statement also reserves the new case's reference."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select

from portal import db_direct, references
from portal.cases.models import OPEN_STATES, Case
from portal.extensions import db

_cases = Case.__table__.c
_OPEN_DUPLICATE = (
    select(_cases.id)
    .where(_cases.tracking_number == bindparam("tracking"), _cases.type == bindparam("type"),
           _cases.phone_e164 == bindparam("phone"),
           # Not in_(): an IN list is expanded at execution, which db_direct leaves to
           # SQLAlchemy; this statement runs on every claim.
           or_(*(_cases.state == state for state in OPEN_STATES)),
           _cases.merged_into_id.is_(None))
    .order_by(_cases.id).limit(1))


def _parcel_statement():
    global _PARCEL
    if _PARCEL is None:
        from portal.parcels.models import AffectedParcel

        parcels = AffectedParcel.__table__.c
        _PARCEL = (select(parcels.id).where(parcels.tracking_number == bindparam("tracking"),
                                            parcels.active.is_(True))
                   .order_by(parcels.id.desc()).limit(1))
    return _PARCEL


def _parcel(parcel_id: int | None):
    from portal.parcels.models import AffectedParcel

    return db.session.get(AffectedParcel, parcel_id) if parcel_id is not None else None


def parcel_for(tracking_number: str | None):
    """The affected-parcel record for a tracking number (latest incident), or None."""
    if not tracking_number:
        return None
    return _parcel(db.session.connection().execute(
        _parcel_statement(), {"tracking": tracking_number}).scalar())


@dataclass(frozen=True)
class FirstLook:
    """What filing a claim reads before writing, in one statement (``first_look``)."""

    duplicate: Case | None  # the customer's open case for the same parcel and type
    parcel: object | None  # the affected-parcel record of the tracking number
    earlier_cases: int | None  # the customer's cases so far (None: no phone or email)
    suppressed: frozenset[tuple[str, str]] | None  # (channel, address) never to be sent to
    reference: str | None = None  # a reference reserved for a new case (None: none was)
    case_id: int | None = None  # with it, the new case's id, drawn from its sequence
    token_case: int | None = None  # the case the submission token already created
    token_message_case: int | None = None  # the case it was already added to
    has_drafts: bool = False  # files kept under the token (a form that came back)


def first_look(tracking_number: str | None, case_type: str, phone_e164: str | None,
               email: str | None = None, reserve: str | None = None,
               token: str | None = None) -> FirstLook:
    """The open case with the same tracking number, type and phone, the affected-parcel
    record (``parcel_for``), how many cases the customer has filed and which of their
    contacts are on the suppression list, in one statement: every claim with a tracking
    number needs all four (routing the count, the confirmation the suppressions).

    ``reserve``: a reference kind; on PostgreSQL the statement also tries one reference of
    that kind (``references.reserving_cte``) and draws the next case id, so that the case
    can be written in the same round trip as its other rows; ``reference`` and ``case_id``
    are set when the reference was free. Taken, or on SQLite (where a round trip costs
    nothing), they stay None and the caller draws a reference as usual. A reference
    reserved for a submission that is then added to an open case stays unused, as does
    the id: that costs nothing (the space holds 29^8 codes per kind; ids may have gaps).

    ``token``: the form's submission token; the statement then also reads what it already
    stands for (``token_case``, ``token_message_case``, ``has_drafts``: as
    ``services.token_state``), so that filing a claim reads once."""
    if not tracking_number and not token:
        return FirstLook(None, None, None, None)
    connection = db.session.connection()
    reserving = bool(reserve) and connection.dialect.name == "postgresql"
    shape = (bool(phone_e164), bool(email), reserving, bool(token))
    found = _FIRST_LOOK.get(shape)
    if found is None:
        found = _FIRST_LOOK[shape] = _first_look_statement(*shape)
    statement, names = found
    params = {"tracking": tracking_number, "type": case_type, "phone": phone_e164}
    if email:
        params["email"] = email
    if token:
        params["token"] = token
    if reserving:
        tried = references.attempt(reserve)
        params.update(ref_kind=tried["kind"], ref_code=tried["code"], ref_at=tried["created_at"])
    (row,) = db_direct.fetch_all(connection, statement, params)
    values = dict(zip(names, row, strict=True))
    duplicate = values["duplicate"]
    suppressed = {(channel, address) for channel, address in (("sms", phone_e164),
                                                              ("email", email))
                  if values.get(f"{channel}_suppressed")}
    reserved = reserving and values["reference"] is not None
    return FirstLook(
        db.session.get(Case, duplicate) if duplicate is not None else None,
        _parcel(values["parcel"]),
        int(values["earlier"] or 0) if phone_e164 or email else None, frozenset(suppressed),
        values["reference"] if reserved else None, values["case_id"] if reserved else None,
        values.get("token_case"), values.get("token_message_case"),
        bool(values.get("token_drafts")))


def _first_look_statement(phone: bool, email: bool, reserving: bool, token: bool):
    """The first look's statement for one shape, and the names of its columns."""
    from sqlalchemy import exists, literal

    from portal.cases.models import CaseEvidence, CaseMessage
    from portal.notifications.models import Suppression
    from portal.queues.signals import earlier_count_statement

    columns = [_OPEN_DUPLICATE.scalar_subquery().label("duplicate"),
               _parcel_statement().scalar_subquery().label("parcel")]
    columns.append(earlier_count_statement(phone, email).scalar_subquery().label("earlier")
                   if phone or email else literal(0).label("earlier"))
    for channel, given, param in (("sms", phone, "phone"), ("email", email, "email")):
        if given:
            columns.append(exists().where(Suppression.channel == channel,
                                          Suppression.address == bindparam(param))
                           .label(f"{channel}_suppressed"))
    if token:
        given = bindparam("token")
        messages, files = CaseMessage.__table__.c, CaseEvidence.__table__.c
        columns += [
            select(_cases.id).where(_cases.submission_token == given).limit(1)
            .scalar_subquery().label("token_case"),
            select(messages.case_id).where(messages.submission_token == given).limit(1)
            .scalar_subquery().label("token_message_case"),
            exists().where(files.draft_token == given, files.case_id.is_(None))
            .label("token_drafts")]
    if not reserving:
        return select(*columns), [column.name for column in columns]
    from sqlalchemy import func

    reserved = references.reserving_cte()
    next_id = func.nextval(func.pg_get_serial_sequence(Case.__tablename__, "id"))
    columns += [select(reserved.c.code).scalar_subquery().label("reference"),
                next_id.label("case_id")]
    return select(*columns).add_cte(reserved), [column.name for column in columns]


_PARCEL = None
_FIRST_LOOK: dict[tuple[bool, ...], tuple] = {}
