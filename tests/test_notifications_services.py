"""notify / notify_subscribers: rows in the caller's transaction, idempotency, suppression,
language per recipient, SMS length; and subscriptions (double opt-in, tokens)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.notifications import sms
from portal.notifications import subscriptions as subs
from portal.notifications.models import (
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from portal.notifications.services import (
    Recipient,
    notify,
    notify_subscribers,
    opt_in,
    subscribe,
    unsubscribe_all,
)

CTX = {"title": "Depot closed", "body": "Parcels wait at the depot."}


def count_rows(**filters) -> int:
    query = select(func.count()).select_from(OutboxMessage)
    for key, value in filters.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    return db.session.scalar(query)


def test_rows_live_in_the_callers_transaction(app_ctx):
    rows = notify("test_message", [Recipient("email", "a@example.com", "en"),
                                   Recipient("sms", "+8613800138000", "zh_Hans")], CTX, "ev:1")
    assert len(rows) == 2 and all(r.id for r in rows)  # flushed
    db.session.rollback()
    assert count_rows() == 0
    notify("test_message", [Recipient("email", "a@example.com", "en")], CTX, "ev:1")
    db.session.commit()
    assert count_rows() == 1


def test_rows_not_attached_are_written_alike_and_stay_out_of_the_session(app_ctx):
    people = [Recipient("email", "a@example.com", "en"), Recipient("sms", "+8613800138000", "en")]
    kept = notify("test_message", people, CTX, "ev:kept")
    loose = notify("test_message", people, CTX, "ev:loose", attach=False)
    assert len(loose) == 2 and all(r.id for r in loose)
    assert all(r in db.session for r in kept) and not any(r in db.session for r in loose)
    assert notify("test_message", people, CTX, "ev:loose", attach=False) == []  # idempotent
    db.session.commit()
    columns = ("channel", "recipient", "language", "subject", "body_text", "body_html",
               "status", "attempts")
    stored = {r.id: r for r in db.session.scalars(select(OutboxMessage))}
    for a, b in zip(kept, loose, strict=True):
        assert [getattr(stored[a.id], c) for c in columns] == \
            [getattr(stored[b.id], c) for c in columns]
        assert stored[b.id].event_key == "ev:loose"


def test_notify_is_idempotent_per_event_recipient_and_channel(app_ctx):
    people = [Recipient("email", "a@example.com", "en"), Recipient("email", "a@example.com", "en"),
              Recipient("sms", "+8613800138000", "en")]
    first = notify("test_message", people, CTX, "ev:2")
    db.session.commit()
    again = notify("test_message", people, CTX, "ev:2")
    db.session.commit()
    other_event = notify("test_message", people, CTX, "ev:3")
    db.session.commit()
    assert len(first) == 2 and again == [] and len(other_event) == 2
    assert count_rows() == 4


def test_suppressed_address_gets_a_suppressed_row_that_is_never_sent(app_ctx):
    from portal.notifications.delivery import deliver_due

    db.session.add(Suppression(channel="sms", address="+8613800138000", reason="STOP"))
    db.session.commit()
    rows = notify("test_message", [Recipient("sms", "+8613800138000", "en"),
                                   Recipient("sms", "+8613900139000", "en")], CTX, "ev:4")
    db.session.commit()
    by_address = {r.recipient: r.status for r in rows}
    assert by_address == {"+8613800138000": OutboxStatus.SUPPRESSED,
                          "+8613900139000": OutboxStatus.PENDING}
    counts = deliver_due()
    assert counts == {"leased": 1, "sent": 1}


def test_each_recipient_gets_their_language(app_ctx):
    rows = notify("test_message", [Recipient("email", f"{lang}@example.com", lang)
                                   for lang in ("zh_Hans", "zh_Hant", "en")]
                  + [Recipient("email", "x@example.com", "zh-TW")], CTX, "ev:5")
    langs = {r.recipient: r.language for r in rows}
    assert langs == {"zh_Hans@example.com": "zh_Hans", "zh_Hant@example.com": "zh_Hant",
                     "en@example.com": "en", "x@example.com": "zh_Hant"}
    html = {r.recipient: r.body_html for r in rows}
    assert '<html lang="zh-Hans">' in html["zh_Hans@example.com"]
    assert '<html lang="zh-Hant">' in html["zh_Hant@example.com"]
    assert '<html lang="en">' in html["en@example.com"]
    assert all(r.subject and "Depot closed" in r.subject for r in rows)


def test_sms_body_fits_the_segment_limit_with_signature(app_ctx):
    app_ctx.config["SMS_MAX_SEGMENTS"] = 2
    long_body = "仓库因暴雨关闭，包裹将延误。" * 30
    rows = notify("test_message", [Recipient("sms", "+8613800138000", "zh_Hans"),
                                   Recipient("sms", "+447700900123", "zh_Hans")],
                  {"title": "通知", "body": long_body}, "ev:6")
    by_to = {r.recipient: r.body_text for r in rows}
    assert all(sms.segments(body) <= 2 for body in by_to.values())
    assert by_to["+8613800138000"].startswith("【速递】")
    assert not by_to["+447700900123"].startswith("【速递】")
    assert by_to["+8613800138000"].endswith("…")


def _confirmed(channel, address, topic_type, topic_key="", language="en"):
    result = subscribe(channel, address, topic_type, topic_key, language, source="staff")
    sub = result.subscription
    sub.status = SubscriptionStatus.CONFIRMED
    db.session.flush()
    return sub


def test_notify_subscribers_reaches_topic_and_all_once(app_ctx):
    topic = _confirmed("email", "t@example.com", "incident", "INC-1")
    _confirmed("email", "t@example.com", "all")  # same person: one message
    _confirmed("email", "all@example.com", "all", language="zh_Hant")
    _confirmed("email", "other@example.com", "incident", "INC-2")
    pending = subscribe("email", "pending@example.com", "incident", "INC-1").subscription
    gone = _confirmed("sms", "+8613800138000", "incident", "INC-1")
    subs.unsubscribe(gone.unsubscribe_token)
    db.session.commit()
    rows = notify_subscribers("test_message", "incident", "INC-1", CTX, "incident:INC-1:u1")
    db.session.commit()
    assert sorted(r.recipient for r in rows) == ["all@example.com", "t@example.com"]
    mine = next(r for r in rows if r.recipient == "t@example.com")
    assert mine.subscription_id == topic.id
    assert f"/unsubscribe/{topic.unsubscribe_token}" in mine.body_text
    assert f"/unsubscribe/{topic.unsubscribe_token}" in mine.body_html
    assert pending.status == SubscriptionStatus.PENDING
    assert notify_subscribers("test_message", "incident", "INC-1", CTX, "incident:INC-1:u1") == []


def test_subscribe_double_opt_in_and_confirm(app_ctx):
    result = subscribe("email", " Reader@Example.COM ", "incident", "INC-9", "zh_Hant")
    db.session.commit()
    sub = result.subscription
    assert result.created and result.confirmation_sent
    assert sub.status == SubscriptionStatus.PENDING and sub.address == "reader@example.com"
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.template == "subscription_confirm" and message.language == "zh_Hant"
    token = message.body_text.split("/subscriptions/confirm/")[1].split("?")[0]
    assert sub.confirm_token_hash == subs.hash_token(token) and token not in sub.confirm_token_hash
    # idempotent: asking again within the resend window sends nothing new
    again = subscribe("email", "reader@example.com", "incident", "INC-9", "zh_Hant")
    assert not again.created and not again.confirmation_sent and again.subscription.id == sub.id
    subs.confirm(token)
    db.session.commit()
    assert sub.status == SubscriptionStatus.CONFIRMED and sub.confirmed_at
    third = subscribe("email", "reader@example.com", "incident", "INC-9", "en")
    assert not third.confirmation_sent and third.subscription.status == "confirmed"


def test_phone_numbers_are_normalised_and_invalid_input_refused(app_ctx):
    sub = subscribe("sms", "138 0013 8000", "parcel", "SF123", "zh_Hans").subscription
    assert sub.address == "+8613800138000"
    with pytest.raises(subs.SubscriptionError) as bad_phone:
        subscribe("sms", "12345", "parcel", "SF123")
    assert bad_phone.value.code == "invalid_address"
    with pytest.raises(subs.SubscriptionError):
        subscribe("email", "not-an-email", "all")
    with pytest.raises(subs.SubscriptionError):
        subscribe("email", "a@example.com", "nonsense", "x")


def test_sms_keyword_subscription_is_confirmed_directly(app_ctx):
    result = subscribe("sms", "+8613800138000", "incident", "INC-1", source="sms")
    assert result.subscription.status == SubscriptionStatus.CONFIRMED
    assert not result.confirmation_sent and count_rows() == 0


def test_expired_and_bad_tokens(app_ctx):
    with pytest.raises(subs.SubscriptionError) as bad:
        subs.confirm("nonsense")
    assert bad.value.code == "invalid_token"
    subscribe("email", "a@example.com", "all")
    token = db.session.scalars(select(OutboxMessage)).one().body_text.split(
        "/subscriptions/confirm/")[1].split("?")[0]
    app_ctx.config["SUBSCRIPTION_CONFIRM_HOURS"] = 0
    time.sleep(1.1)
    with pytest.raises(subs.SubscriptionError) as expired:
        subs.confirm(token)
    assert expired.value.code == "expired_token"


def test_sms_opt_out_suppresses_and_opt_in_lifts_it(app_ctx):
    _confirmed("sms", "+8613800138000", "incident", "INC-1")
    _confirmed("sms", "+8613800138000", "all")
    assert unsubscribe_all("sms", "13800138000", "TD") == 2
    db.session.commit()
    assert db.session.get(Suppression, ("sms", "+8613800138000")).reason == "TD"
    assert db.session.scalar(select(func.count()).select_from(Subscription).where(
        Subscription.status == "confirmed")) == 0
    web = subscribe("sms", "+8613800138000", "all")
    assert web.suppressed and not web.confirmation_sent
    assert opt_in("sms", "+8613800138000") is True
    db.session.commit()
    assert db.session.get(Suppression, ("sms", "+8613800138000")) is None


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant", "en"])
def test_a_message_is_translated_and_its_values_escaped_in_html_only(app_ctx, language):
    from flask_babel import force_locale, gettext

    from portal.notifications.rendering import render

    context = {"reference": "CS-TEST-1", "customer_name": "<b>Li & Wang</b>", "kind": "claim",
               "tracking_number": None, "legal_due_at": None, "suggested_fen": None,
               "status_url": "https://portal.example/claims/CS-TEST-1", "status_path": "/x"}
    rendered = render("email", "case_received", language, context, footers=False)
    with force_locale(language):
        dear = gettext("Dear %(name)s,", name="<b>Li & Wang</b>")
        title = gettext("We have received your case")
    assert rendered.subject == f"[CS-TEST-1] {title}"
    assert dear in rendered.text  # text: the name as typed
    assert "<b>Li" not in rendered.html
    assert dear.replace("<b>Li & Wang</b>", "&lt;b&gt;Li &amp; Wang&lt;/b&gt;") in rendered.html
    if language != "en":
        assert "Dear" not in rendered.text


@pytest.mark.parametrize("people", [3, 12])  # a few recipients (one statement), and many
def test_known_keys_and_suppressions_are_found_for_few_and_many_recipients(app_ctx, people):
    phones = [f"+86139001390{i:02d}" for i in range(people)]
    db.session.add(Suppression(channel="sms", address=phones[1], reason="STOP"))
    notify("test_message", [Recipient("sms", phones[0], "en")], CTX, "ev:known")
    db.session.commit()
    rows = notify("test_message", [Recipient("sms", p, "en") for p in phones], CTX, "ev:known")
    db.session.commit()
    statuses = {r.recipient: r.status for r in rows}
    assert phones[0] not in statuses and len(statuses) == people - 1  # already written
    assert statuses[phones[1]] == OutboxStatus.SUPPRESSED
    assert {statuses[p] for p in phones[2:]} == {OutboxStatus.PENDING}
