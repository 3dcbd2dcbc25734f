"""Reach before publishing: one counting query over topics, "all", minus suppressed."""

from test_fanout import add_subscribers

from portal.extensions import db
from portal.notifications.fanout import count_reach
from portal.notifications.models import Subscription, Suppression


def test_counts_distinct_addresses_per_channel_without_suppressed(app_ctx):
    add_subscribers(3, "incident", "IN-AAAA-BBBB", channel="sms")  # +8613900000000..02
    add_subscribers(2, "region", "guangdong", channel="email")
    # The same phone following the incident and "all" counts once.
    db.session.add(Subscription(channel="sms", address="+8613900000000", topic_type="all",
                                topic_key="", status="confirmed", unsubscribe_token="t-all-1"))
    db.session.add(Suppression(channel="sms", address="+8613900000001", reason="opt_out"))
    db.session.flush()

    assert count_reach([("incident", "IN-AAAA-BBBB"), ("region", "guangdong")]) == {
        "sms": 2, "email": 2}
    assert count_reach([("incident", "IN-ZZZZ-ZZZZ")]) == {"sms": 1, "email": 0}  # "all"
