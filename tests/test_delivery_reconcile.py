"""The matching function behind reconciliation: pure, no provider, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.notifications.reconcile import SentRecord, match_sent

LEASED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NOW = LEASED + timedelta(minutes=5)
TO, BODY = "+85291234567", "【速递】上海转运中心暂停作业。回TD退订"


def record(sid="SM1", to=TO, body=BODY, at=LEASED + timedelta(seconds=2), **kw):
    return SentRecord(sid=sid, to=to, body=body, date_created=at, **kw)


def test_the_message_sent_under_this_lease_is_found():
    assert match_sent([record()], TO, BODY, LEASED, NOW).sid == "SM1"


def test_other_number_or_body_is_not_this_message():
    assert match_sent([record(to="+85291234568")], TO, BODY, LEASED, NOW) is None
    assert match_sent([record(body=BODY + "!")], TO, BODY, LEASED, NOW) is None


def test_numbers_and_line_ends_are_compared_loosely_bodies_otherwise_exactly():
    assert match_sent([record(to="+852 9123 4567", body=BODY.replace("。", "。\r\n"))],
                      TO, BODY.replace("。", "。\n"), LEASED, NOW) is not None


def test_outside_the_window_is_an_older_or_later_message():
    assert match_sent([record(at=LEASED - timedelta(minutes=10))], TO, BODY, LEASED, NOW) is None
    assert match_sent([record(at=NOW + timedelta(minutes=10))], TO, BODY, LEASED, NOW) is None
    # within the clock-skew allowance
    assert match_sent([record(at=LEASED - timedelta(seconds=30))], TO, BODY, LEASED, NOW)


def test_inbound_canceled_undated_or_claimed_records_do_not_count():
    assert match_sent([record(direction="inbound")], TO, BODY, LEASED, NOW) is None
    assert match_sent([record(status="canceled")], TO, BODY, LEASED, NOW) is None
    assert match_sent([record(at=None)], TO, BODY, LEASED, NOW) is None
    assert match_sent([record()], TO, BODY, LEASED, NOW, exclude_sids={"SM1"}) is None


def test_two_identical_messages_the_earliest_unclaimed_wins():
    first = record("SM1", at=LEASED + timedelta(seconds=1))
    second = record("SM2", at=LEASED + timedelta(seconds=3))
    assert match_sent([second, first], TO, BODY, LEASED, NOW).sid == "SM1"
    assert match_sent([second, first], TO, BODY, LEASED, NOW, {"SM1"}).sid == "SM2"


@given(st.lists(st.builds(SentRecord, sid=st.text(min_size=1, max_size=4),
                          to=st.sampled_from([TO, "+85291234568"]),
                          body=st.sampled_from([BODY, "other"]),
                          date_created=st.one_of(st.none(), st.datetimes(
                              min_value=datetime(2026, 11, 26, 7, 0),
                              max_value=datetime(2026, 11, 26, 9, 0),
                              timezones=st.just(UTC))),
                          direction=st.sampled_from(["outbound-api", "inbound"]),
                          status=st.sampled_from(["queued", "sent", "canceled"])), max_size=8))
def test_a_match_always_satisfies_every_rule(records):
    found = match_sent(records, TO, BODY, LEASED, NOW)
    if found is not None:
        assert found.to == TO and found.body == BODY and found.direction == "outbound-api"
        assert LEASED - timedelta(seconds=60) <= found.date_created <= NOW + timedelta(seconds=60)
        assert found.status != "canceled"
    elif any(r.to == TO and r.body == BODY and r.direction == "outbound-api"
             and r.status != "canceled" and r.date_created is not None
             and LEASED - timedelta(seconds=60) <= r.date_created <= NOW + timedelta(seconds=60)
             for r in records):
        raise AssertionError("a matching record was missed")
