"""Assignment: take next (oldest highest-priority), round robin, least loaded, availability
and capacity, reassignment and returning cases when an agent goes away, all logged; two
agents taking next at once never get the same case (SKIP LOCKED on PostgreSQL, the
conditional UPDATE elsewhere)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.queues import assignment
from portal.queues.models import CaseWork, Queue
from portal.staff.models import AuditEntry, StaffUser
from tests.test_queues_support import at, new_case, queue, staff, work_of


def _cases(n: int, start: str = "2026-03-09 09:00", **kw):
    first = at(start)
    return [new_case(now=first + timedelta(minutes=i), phone=None, email=None, **kw)
            for i in range(n)]


def test_take_next_gives_oldest_highest_priority(app_ctx):
    agent = staff("agent")
    q = queue("general", fallback=True, members=[agent])
    old, newer, urgent_late = _cases(3)
    urgent = work_of(urgent_late)
    urgent.priority = 1
    db.session.commit()
    taken = [assignment.take_next(q, agent).case_id for _ in range(3)]
    db.session.commit()
    assert taken == [urgent_late.id, old.id, newer.id]
    assert assignment.take_next(q, agent) is None
    assert db.session.query(AuditEntry).filter_by(action="queue.taken").count() == 3


def test_take_next_needs_membership(app_ctx):
    stranger = staff("agent")
    q = queue("general", fallback=True)
    _cases(1)
    with pytest.raises(assignment.AssignmentError):
        assignment.take_next(q, stranger)


def _available(*agents, capacity=20):
    for agent in agents:
        assignment.set_availability(agent.id, True, agent, capacity=capacity)
    db.session.commit()


def test_round_robin_among_available_members_with_capacity(app_ctx):
    a, b, c = staff("agent", "a@example.com"), staff("agent", "b@example.com"), staff("agent")
    queue("rr", strategy="round_robin", fallback=True, members=[a, b, c])
    _available(a, b)
    _available(c, capacity=1)
    owners = [work_of(case).assignee_id for case in _cases(7)]
    assert owners == [a.id, b.id, c.id, a.id, b.id, a.id, b.id]  # c is full after one


def test_least_loaded(app_ctx):
    a, b = staff("agent"), staff("agent")
    queue("ll", strategy="least_loaded", fallback=True, members=[a, b])
    _available(a)
    first = _cases(2)
    assert {work_of(c).assignee_id for c in first} == {a.id}
    _available(b)
    owners = [work_of(c).assignee_id for c in _cases(3)]
    assert owners == [b.id, b.id, a.id]  # b catches up, then a tie goes to the lower id


def test_nobody_available_leaves_the_case_in_the_queue_until_someone_is(app_ctx):
    a = staff("agent")
    queue("rr", strategy="round_robin", fallback=True, members=[a])
    case = _cases(1)[0]
    assert work_of(case).assignee_id is None
    _available(a)
    assert assignment.assign_waiting() == 1
    db.session.commit()
    assert work_of(case).assignee_id == a.id


def test_agent_going_away_returns_cases_and_reassignment_is_logged(app_ctx):
    a, b, boss = staff("agent"), staff("agent"), staff("supervisor")
    queue("ll", strategy="least_loaded", fallback=True, members=[a, b])
    _available(a)
    cases = _cases(2)
    assert all(work_of(c).assignee_id == a.id for c in cases)
    returned = assignment.set_availability(a.id, False, a)
    db.session.commit()
    assert returned == 2 and all(work_of(c).assignee_id is None for c in cases)
    assert any(e.action == "returned_to_queue" for e in cases[0].events)
    with pytest.raises(assignment.AssignmentError):
        assignment.assign(work_of(cases[0]), b.id, boss)  # b is not available
    assignment.assign(work_of(cases[0]), b.id, boss, reason="covering", force=True)
    db.session.commit()
    assert work_of(cases[0]).assignee_id == b.id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "queue.reassigned"))
    assert entry.actor_id == boss.id and entry.detail["reason"] == "covering"


def _race(app, queue_id: int, agent_ids: list[int], per_agent: int, claim=None) -> list[int]:
    barrier = threading.Barrier(len(agent_ids))
    taken: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(agent_id: int):
        try:
            with app.app_context():
                agent = db.session.get(StaffUser, agent_id)
                q = db.session.get(Queue, queue_id)
                barrier.wait()
                for _ in range(per_agent):
                    if claim is not None:
                        case_id = claim(queue_id, agent_id, at("2026-03-09 12:00"))
                    else:
                        got = assignment.take_next(q, agent)
                        case_id = got.case_id if got else None
                    db.session.commit()
                    if case_id is not None:
                        with lock:
                            taken.append(case_id)
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(a,)) for a in agent_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return taken


def _race_setup(n_cases: int, n_agents: int):
    agents = [staff("agent") for _ in range(n_agents)]
    q = queue("general", fallback=True, members=agents)
    _cases(n_cases)
    db.session.commit()
    return q.id, [a.id for a in agents]


def test_concurrent_take_next_never_gives_the_same_case(app, app_ctx):
    queue_id, agents = _race_setup(24, 4)
    taken = _race(app, queue_id, agents, 6)
    assert len(taken) == 24 and len(set(taken)) == 24
    db.session.rollback()  # end this session's read snapshot (SQLite WAL)
    owners = db.session.execute(select(CaseWork.case_id, CaseWork.assignee_id)).all()
    assert all(owner is not None for _, owner in owners), owners


def test_concurrent_portable_path_never_gives_the_same_case(app, app_ctx):
    queue_id, agents = _race_setup(16, 4)
    taken = _race(app, queue_id, agents, 4, claim=lambda *args: assignment.with_retry(
        assignment._claim_portable, *args))
    assert len(taken) == 16 and len(set(taken)) == 16


def test_skip_locked_does_not_wait_for_a_locked_case(app, app_ctx):
    """PostgreSQL: while one agent's transaction holds the first case, another agent gets
    the second at once instead of waiting."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is the PostgreSQL path")
    queue_id, (_first_agent, second_agent) = _race_setup(2, 2)
    with db.engine.connect() as holder:
        trans = holder.begin()
        held = holder.execute(assignment._ordered_candidates(queue_id).limit(1)
                              .with_for_update()).scalar()
        with app.app_context():
            db.session.execute(db.text("SET LOCAL lock_timeout = '2s'"))
            got = assignment._claim_postgresql(queue_id, second_agent, at("2026-03-09 12:00"))
            db.session.commit()
        trans.rollback()
    assert got is not None and got != held
