"""Set-based fan-out of a published update: one INSERT ... SELECT per channel and
language, reaching incident, parcel-of-incident and region subscribers once each."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import event, select
from test_hotline_support import affected_parcel
from test_parcels_support import SF

from portal.extensions import db
from portal.notifications import dispatch, fanout, sms
from portal.notifications.models import OutboxMessage, Subscription, Suppression
from portal.notifications.services import Recipient, notify, notify_subscribers

CTX = {"title": "停运通知", "body": "上海转运中心暂停作业"}


def add_subscribers(n: int, topic_type: str, topic_key: str, channel: str = "sms",
                    language: str = "zh_Hans", start: int = 0, status: str = "confirmed"):
    rows = []
    for i in range(start, start + n):
        address = f"+86139{i:08d}" if channel == "sms" else f"r{i}@example.com"
        rows.append(Subscription(channel=channel, address=address, topic_type=topic_type,
                                 topic_key=topic_key, language=language, status=status,
                                 unsubscribe_token=secrets.token_urlsafe(32), source="staff"))
    db.session.add_all(rows)
    db.session.commit()
    return rows


class StatementCounter:
    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.statements.append(statement)

    @property
    def inserts(self):
        return [s for s in self.statements if s.lstrip().upper().startswith("INSERT")]


def test_statements_do_not_grow_with_the_number_of_subscribers(app_ctx):
    add_subscribers(5, "incident", "IN-AAAA-BBBB")
    with StatementCounter(db.engine) as small:
        assert len(notify_subscribers("test_message", "incident", "IN-AAAA-BBBB", CTX,
                                      "ev:small")) == 5
    add_subscribers(400, "incident", "IN-AAAA-BBBB", start=5)
    with StatementCounter(db.engine) as large:
        assert len(notify_subscribers("test_message", "incident", "IN-AAAA-BBBB", CTX,
                                      "ev:large")) == 405
    assert len(large.statements) == len(small.statements)
    # one INSERT per SMS variant (+86 with its signature, others without): no row loop
    assert len(large.inserts) == 2
    assert all("SELECT" in s.upper() for s in large.inserts)


def test_same_bodies_and_keys_as_notify(app_ctx):
    mainland, = add_subscribers(1, "incident", "IN-X", language="zh_Hans")
    [hk] = [Subscription(channel="sms", address="+85291234567", topic_type="incident",
                         topic_key="IN-X", language="en", status="confirmed",
                         unsubscribe_token=secrets.token_urlsafe(32))]
    [mail] = add_subscribers(1, "incident", "IN-X", channel="email", language="zh_Hant")
    db.session.add(hk)
    db.session.commit()
    rows = {r.recipient: r for r in notify_subscribers("incident_published", "incident",
                                                       "IN-X", _incident_ctx(), "ev:same")}
    expected = {r.recipient: r for r in notify(
        "incident_published",
        [Recipient(s.channel, s.address, s.language, s.id) for s in (mainland, hk, mail)],
        _incident_ctx(), "ev:same-notify", idempotency_key_base="ev:same-probe")}
    for address, row in rows.items():
        other = expected[address]
        assert row.body_text == other.body_text and row.body_html == other.body_html
        assert row.subject == other.subject and row.language == other.language
        assert row.idempotency_key.rsplit(":", 1)[1] == other.idempotency_key.rsplit(":", 1)[1]
    assert rows[mainland.address].body_text.startswith("【速递】")
    assert not rows["+85291234567"].body_text.startswith("【速递】")
    assert sms.segments(rows[mainland.address].body_text) <= 3
    assert f"/unsubscribe/{mail.unsubscribe_token}?lang=zh_Hant" in rows[mail.address].body_html


def _incident_ctx():
    return {"reference": "IN-X", "title": {"zh_Hans": "上海停运", "en": "Shanghai halt"},
            "path": "/incidents/IN-X", "summary": {}, "state": "investigating",
            "severity": "major", "expected_recovery_at": None, "update_text": {}}


def test_publishing_reaches_incident_parcel_and_region_subscribers_once(app):
    from portal.incidents import services as incidents
    from portal.incidents.models import Incident
    from portal.staff.models import StaffUser

    reference = affected_parcel(app, SF)  # published, with SF listed on it
    with app.app_context():
        incident = db.session.scalar(select(Incident).where(Incident.reference == reference))
        actor = db.session.scalar(select(StaffUser))
        region = incidents.AreaInput("region", "广东省深圳市", "Shenzhen")
        hub = incidents.AreaInput("hub", "深圳分拨中心", "Shenzhen hub")
        incidents.edit(actor, incident, title=incident.title, summary=incident.summary,
                       type=incident.type, severity=incident.severity, areas=[hub, region],
                       started_at=incident.started_at, expected_recovery_at=None,
                       commander_id=None)
        db.session.commit()
        add_subscribers(3, "incident", reference, start=0)
        add_subscribers(2, "parcel", SF, start=10)
        add_subscribers(1, "parcel", "JT0006968326954", start=20)  # not on this incident
        add_subscribers(2, "region", "广东省深圳市", start=30)
        add_subscribers(1, "region", "广东省深圳市", start=0)  # also on the incident: once
        add_subscribers(1, "incident", reference, start=40, status="pending")
        add_subscribers(1, "incident", reference, start=50, channel="email", language="en")
        db.session.add(Suppression(channel="sms", address="+8613900000031", reason="sms:TD"))
        db.session.query(OutboxMessage).delete()
        db.session.commit()
        written = incidents.resolve(actor, incident)
        db.session.commit()
        rows = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.event_key == f"incident:{reference}:resolved")).all()
        recipients = sorted(r.recipient for r in rows)
        assert written == len(rows) == 8
        assert recipients == sorted(["+8613900000000", "+8613900000001", "+8613900000002",
                                     "+8613900000010", "+8613900000011", "+8613900000030",
                                     "+8613900000031", "r50@example.com"])
        by = {r.recipient: r for r in rows}
        assert by["+8613900000031"].status == "suppressed"
        assert {r.status for r in rows if r.recipient != "+8613900000031"} == {"pending"}
        # the incident subscription wins over the region one for the same number
        sub = db.session.get(Subscription, by["+8613900000000"].subscription_id)
        assert sub.topic_type == "incident"
        # announcing again writes nothing twice
        assert len(notify_subscribers("incident_resolved", "incident", reference, {},
                                      f"incident:{reference}:resolved")) == 0


def test_rollback_leaves_no_row_and_queues_no_task(app_ctx, monkeypatch):
    queued = []
    monkeypatch.setattr(dispatch, "enqueue_delivery", lambda app, count=1: queued.append(count))
    app_ctx.config.update(OUTBOX_DISPATCH="celery", OUTBOX_BATCH_SIZE=100,
                          OUTBOX_PARALLEL_TASKS=4)
    add_subscribers(250, "incident", "IN-R")
    notify_subscribers("test_message", "incident", "IN-R", CTX, "ev:rb")
    db.session.rollback()
    db.session.commit()
    assert db.session.scalar(select(OutboxMessage.id)) is None and queued == []
    notify_subscribers("test_message", "incident", "IN-R", CTX, "ev:ok")
    db.session.commit()
    assert queued == [3]  # 250 rows, batches of 100: three tasks for the workers to share


@pytest.mark.parametrize("rows,expected", [(1, 1), (100, 1), (101, 2), (10_000, 4)])
def test_tasks_for(rows, expected):
    assert dispatch.tasks_for(rows, {"OUTBOX_BATCH_SIZE": 100, "OUTBOX_PARALLEL_TASKS": 4}) \
        == expected


def test_lazy_rows_are_only_loaded_when_read(app_ctx):
    add_subscribers(3, "incident", "IN-L")
    rows = fanout.fan_out("test_message", "incident", "IN-L", CTX, "ev:lazy")
    assert len(rows) == 3 and rows._rows is None
    assert sorted(r.recipient for r in rows) == ["+8613900000000", "+8613900000001",
                                                 "+8613900000002"]
