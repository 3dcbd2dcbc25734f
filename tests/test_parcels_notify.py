"""Customers following a parcel hear once when an import changes it (situation, new
expected date, newly listed); never on an identical re-import or an undo, never about
parcels they do not follow. On SQLite and PostgreSQL, for the direct and staged paths."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select
from test_parcels_support import JT, SF, STO, csv_bytes, import_file, make_incident

from portal.extensions import db
from portal.notifications.models import OutboxMessage, Subscription, Suppression

HEADER = ["运单号", "状态", "新预计送达日期"]


@pytest.fixture(autouse=True)
def _import_folder(app, tmp_path):
    app.config["PARCEL_IMPORT_FOLDER"] = str(tmp_path / "imports")
    app.config["SMS_SIGNATURE"] = "【速递】"


def follow(app, channel: str, address: str, number: str, language: str,
           status: str = "confirmed") -> None:
    with app.app_context():
        db.session.add(Subscription(channel=channel, address=address, topic_type="parcel",
                                    topic_key=number, language=language, status=status,
                                    unsubscribe_token=secrets.token_urlsafe(32)))
        db.session.commit()


def messages(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.template == "parcel_changed").order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def write(tmp_path, name: str, rows: list[list]):
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows, HEADER))
    return path


@pytest.mark.parametrize("direct", [True, False])
def test_followers_hear_once_per_change(app, tmp_path, direct):
    app.config["PARCEL_IMPORT_DIRECT"] = direct
    follow(app, "email", "ann@example.com", SF, "en")
    follow(app, "sms", "+8613800138000", SF, "zh_Hans")
    follow(app, "email", "bob@example.com", JT, "en")  # JT is never imported
    ref = make_incident(app)
    first = write(tmp_path, "a.csv", [[SF, "delayed", "2026-03-05"], [STO, "held", ""]])

    import_file(app, ref, first)
    sent = messages(app)
    assert sorted((m.channel, m.recipient) for m in sent) == [
        ("email", "ann@example.com"), ("sms", "+8613800138000")]
    email = next(m for m in sent if m.channel == "email")
    assert SF in email.subject and "Delayed" in email.subject
    assert "Delayed" in email.body_text and "2026-03-05" in email.body_text
    assert f"/parcels?q={SF}" in email.body_text and "/unsubscribe/" in email.body_text
    assert "Delayed" in email.body_html and SF in email.body_html
    sms = next(m for m in sent if m.channel == "sms")
    assert sms.body_text.startswith("【速递】") and f"parcels?q={SF}" in sms.body_text
    assert "延误" in sms.body_text and "2026-03-05" in sms.body_text
    assert sms.language == "zh_Hans" and email.language == "en"

    import_file(app, ref, first)  # identical: nobody hears again
    assert len(messages(app)) == 2

    later = write(tmp_path, "b.csv", [[SF, "lost", "2026-03-05"], [STO, "held", ""]])
    batch = import_file(app, ref, later)
    assert batch["updated"] == 1
    sent = messages(app)
    assert len(sent) == 4
    news = next(m for m in sent[2:] if m.channel == "email")
    assert "Lost" in news.body_text and news.recipient == "ann@example.com"

    from portal.parcels import services
    from portal.parcels.models import ParcelImport

    with app.app_context():
        services.undo(db.session.get(ParcelImport, batch["id"]), "test")
        db.session.commit()
    assert len(messages(app)) == 4  # undo tells nobody


def test_only_situation_or_date_changes_count(app, tmp_path):
    follow(app, "email", "ann@example.com", SF, "zh_Hans")
    ref = make_incident(app)
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes([[SF, "delayed", "", "hub 1"]], [*HEADER, "最后位置"]))
    import_file(app, ref, path)
    assert len(messages(app)) == 1
    assert "尚未确定" in messages(app)[0].body_text  # no date yet, said in their language
    path.write_bytes(csv_bytes([[SF, "delayed", "", "hub 2"]], [*HEADER, "最后位置"]))
    batch = import_file(app, ref, path)
    assert batch["updated"] == 1  # the location changed, but not what customers are told
    assert len(messages(app)) == 1
    path.write_bytes(csv_bytes([[SF, "", "2026-04-01", ""]], [*HEADER, "最后位置"]))
    import_file(app, ref, path)
    assert len(messages(app)) == 2
    assert "2026-04-01" in messages(app)[1].body_text


def test_unconfirmed_unsubscribed_and_suppressed_followers(app, tmp_path):
    follow(app, "email", "pending@example.com", SF, "en", status="pending")
    follow(app, "email", "gone@example.com", SF, "en", status="unsubscribed")
    follow(app, "sms", "+8613900139000", SF, "en")
    with app.app_context():
        db.session.add(Suppression(channel="sms", address="+8613900139000", reason="stop"))
        db.session.commit()
    import_file(app, make_incident(app), write(tmp_path, "a.csv", [[SF, "held", ""]]))
    sent = messages(app)
    assert [(m.recipient, m.status) for m in sent] == [("+8613900139000", "suppressed")]


def test_api_push_notifies_and_no_follower_costs_nothing(app):
    from portal.parcels import notify, services

    ref = make_incident(app)
    with app.app_context():
        incident = services.find_incident(ref)
        batch = services.import_items(incident, [{"tracking_number": SF, "situation": "held"}])
        db.session.commit()
        assert batch.notified == 0
    follow(app, "email", "ann@example.com", SF, "en")
    with app.app_context():
        incident = services.find_incident(ref)
        batch = services.import_items(incident, [{"tracking_number": SF, "situation": "lost"}])
        db.session.commit()
        assert batch.notified == 1
        assert notify.notify_changes(batch) == 0  # the same change is written once
    assert [m.recipient for m in messages(app)] == ["ann@example.com"]


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant", "en"])
def test_the_longest_parcel_sms_fits_the_segment_limit(app_ctx, language):
    """The parcel SMS is filled in by the database and never shortened, so its longest
    form (40-character number, longest situation label, no date) must fit."""
    from flask_babel import force_locale

    from portal.notifications import sms
    from portal.notifications.rendering import render
    from portal.parcels.labels import SITUATION_LABELS

    with force_locale(language):
        longest = max((str(label) for label in SITUATION_LABELS.values()), key=len)
        unknown = "尚未确定" if language != "en" else "not yet known"
    rendered = render("sms", "parcel_changed", language, {
        "tracking_number": "SF" + "9" * 38, "situation": longest,
        "expected_delivery": unknown})
    body = sms.with_signature(rendered.text, "+8613800138000", "【速递】") + " " + \
        rendered.footer_text
    assert sms.segments(body) <= int(app_ctx.config.get("SMS_MAX_SEGMENTS", 3))


@pytest.mark.parametrize("publish,drill", [(False, False), (False, True)])
def test_draft_and_drill_imports_tell_nobody(app, tmp_path, publish, drill):
    follow(app, "email", "ann@example.com", SF, "en")
    ref = make_incident(app, publish=publish, drill=drill)
    batch = import_file(app, ref, write(tmp_path, "a.csv", [[SF, "delayed", "2026-03-05"]]))
    assert batch["inserted"] == 1
    assert messages(app) == []
