"""Settings kept per process (portal.config_cache): routing rules, queues, escalation
keywords and policy versions are read once, dropped when this process writes them, and
picked up from other processes after CONFIG_CACHE_SECONDS."""

from __future__ import annotations

from sqlalchemy import event, update

from portal.extensions import db
from portal.queues import routing, signals
from portal.queues.models import EscalationKeyword, RoutingRule
from tests.test_queues_support import queue, rule


class StatementCounter:
    """Counts the SELECTs the app's engine runs on a given table."""

    def __init__(self, table: str):
        self.table, self.count = table, 0

    def __call__(self, conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {self.table}" in statement:
            self.count += 1


def _counting(table: str) -> StatementCounter:
    counter = StatementCounter(table)
    event.listen(db.engine, "before_cursor_execute", counter)
    return counter


def _stop(counter: StatementCounter) -> None:
    event.remove(db.engine, "before_cursor_execute", counter)


def test_routing_config_is_read_once_then_kept(app_ctx):
    queue("general", fallback=True)
    db.session.commit()
    counter = _counting("routing_rule")
    try:
        first = routing.routing_config()
        again = routing.routing_config()
    finally:
        _stop(counter)
    assert first is again and counter.count == 1
    assert first.fallback.slug == "general"


def test_a_write_in_this_process_is_seen_at_once(app_ctx):
    queue("general", fallback=True)
    queue("vip")
    db.session.commit()
    assert routing.routing_config().rules == ()
    rule("VIP", {"language": ["en"]}, {"queue": "vip"})  # flushed, not committed
    assert [r.name for r in routing.routing_config().rules] == ["VIP"]
    db.session.commit()
    db.session.execute(update(RoutingRule).values(name="Renamed"))  # an ORM bulk UPDATE
    assert [r.name for r in routing.routing_config().rules] == ["Renamed"]
    db.session.commit()


def test_a_rolled_back_write_is_not_kept(app_ctx):
    queue("general", fallback=True)
    db.session.commit()
    rule("Temporary", {}, {"queue": "general"})
    assert [r.name for r in routing.routing_config().rules] == ["Temporary"]  # read mid-way
    db.session.rollback()
    assert routing.routing_config().rules == ()


def test_another_process_sees_a_change_after_the_configured_seconds(app, make_app):
    other = make_app(CONFIG_CACHE_SECONDS=3600)
    with other.app_context():
        assert signals.keywords()[0][1] == "12305"  # the built-in list, now kept
    with app.app_context():  # "another process" (its own app) adds a keyword
        db.session.add(EscalationKeyword(language="en", keyword="ombudsman", tag="ombudsman"))
        db.session.commit()
    with other.app_context():
        assert "ombudsman" not in {kw for _lang, kw, _tag, _p in signals.keywords()}
        other.config["CONFIG_CACHE_SECONDS"] = 0  # as if the kept copy had expired
        assert {kw for _lang, kw, _tag, _p in signals.keywords()} == {"ombudsman"}


def test_zero_seconds_reads_every_time(app, app_ctx):
    app.config["CONFIG_CACHE_SECONDS"] = 0
    counter = _counting("escalation_keyword")
    try:
        signals.keywords()
        signals.keywords()
    finally:
        _stop(counter)
    assert counter.count == 2
