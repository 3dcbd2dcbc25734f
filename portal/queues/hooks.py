"""Keep a case's queue side in step with the claims feature, without touching its code.

- ``Case.state`` changes (any code path: staff, customer, the sweep) update the work row's
  state mirror and pause or resume the SLA clocks (``sla.on_state``).
- ``Case.answered_at`` (set by the first public staff reply) stops the first-response
  clock.
- A new case is routed when its transaction commits (``before_commit``), so routing sees
  the case complete (first message, parcel, amounts) whatever order the claims service
  builds it in. New cases are seen in the session's new objects, or, when the claims
  service writes them with bulk INSERTs, through its ``case_filed`` signal. A case routed
  earlier in the transaction (staff-created cases) is left alone.
- A new customer message on a routed case counts as a contact and is checked for
  escalation signals: a signal (or repeated contacts) raises the priority, tags the case
  and is written to its history.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.util import identity_key

from portal.cases.filing import case_filed
from portal.cases.models import Case, CaseMessage

_installed = False


def _work(case):
    try:
        return case.work
    except Exception:
        return None


def _on_state(case, value, oldvalue, _initiator):
    if value == oldvalue or not isinstance(value, str):
        return
    work = _work(case) if case.id is not None else None
    if work is None:
        return
    from portal.queues import sla

    old = oldvalue if isinstance(oldvalue, str) else None
    sla.on_state(work, old, str(value))  # at sla.current_time()


def _on_answered(case, value, oldvalue, _initiator):
    if value is None or case.id is None:
        return
    work = _work(case)
    if work is not None:
        from portal.queues import sla

        sla.on_first_response(work, value)


def _customer_message(session: Session, message: CaseMessage) -> None:
    from portal.cases.services import log_event
    from portal.queues import routing, signals, sla

    case = message.case
    if case is None or case.id is None:
        return
    work = _work(case)
    if work is None:
        return
    work.contacts = int(work.contacts or 1) + 1
    found = signals.find_signals(message.body or "")
    repeat = signals.repeat_signal(work.contacts, 0)
    if repeat is not None:
        found.append(repeat)
    new = [s for s in found if s.tag not in (work.signals or [])]
    if not new:
        return
    priority = min([int(work.priority), *(s.priority for s in new)])
    work.signals = sorted({*(work.signals or []), *(s.tag for s in new)})
    routing.add_tags(case.id, [s.tag for s in new], "signal")
    log_event(case, "escalation_signal", actor_label="routing",
              signals=[s.explain() for s in new], priority=priority)
    if priority != work.priority:
        work.priority = priority
        sla.start(work, sla.current_time())


NEW_CASES = "queues_new_cases"


def _before_flush(session: Session, _context, _instances) -> None:
    new_cases = [obj for obj in session.new if isinstance(obj, Case)]
    if new_cases:
        session.info.setdefault(NEW_CASES, []).extend(new_cases)
    messages = [obj for obj in session.new
                if isinstance(obj, CaseMessage) and obj.kind == "customer"]
    if not messages:
        return
    with session.no_autoflush:
        for message in messages:
            _customer_message(session, message)


def _on_case_filed(case) -> None:
    """A case written with bulk INSERTs (``portal.cases.filing``): route it at commit."""
    session = object_session(case)
    if session is not None:
        session.info.setdefault(NEW_CASES, []).append(case)


def _before_commit(session: Session) -> None:
    cases = session.info.pop(NEW_CASES, None)
    if not cases:
        return
    from portal.queues.models import CaseWork
    from portal.queues.routing import route_case

    session.flush()
    for case in cases:
        if case.id is None or case in session.deleted:
            continue
        # The case was inserted by this transaction, so a work row for it can only be one
        # this session holds: look in the identity map, not in the database.
        key = identity_key(CaseWork, case.id)
        if key not in session.identity_map and not any(
                isinstance(obj, CaseWork) and obj.case_id == case.id for obj in session.new):
            route_case(case, new=True)


def _forget(session: Session, *_args) -> None:
    session.info.pop(NEW_CASES, None)


def install() -> None:
    """Register the listeners once per process."""
    global _installed
    if _installed:
        return
    event.listen(Case.state, "set", _on_state)
    event.listen(Case.answered_at, "set", _on_answered)
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_rollback", _forget)
    case_filed.connect(_on_case_filed)
    _installed = True
