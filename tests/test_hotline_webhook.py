"""The inbound SMS webhook: signature, commands in Chinese and English, replies in the
sender's language, the case phone check, opt-out and opt-in, limits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_hotline_support import (
    HK,
    PUBLIC,
    TW,
    UK,
    affected_parcel,
    configure,
    inbound_log,
    make_case,
    reply_of,
    sign,
    text,
)
from test_parcels_support import SF

from portal.extensions import db
from portal.notifications import sms
from portal.notifications.models import Subscription, Suppression


@pytest.fixture(autouse=True)
def _hotline(app):
    configure(app)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# --- signature ---------------------------------------------------------------------------

def test_good_signature_is_answered(app, client):
    assert reply_of(text(client, "HELP", UK)).startswith("Text a tracking number")


def test_bad_signature_gets_403_and_changes_nothing(app, client):
    form = {"MessageSid": "SM" + "1" * 32, "From": HK, "To": "+15005550006", "Body": "TD"}
    wrong = sign(f"{PUBLIC}/hotline/sms", form, token="not-the-token")
    response = client.post("/hotline/sms", data=form, base_url=PUBLIC,
                           headers={"X-Twilio-Signature": wrong})
    assert response.status_code == 403
    missing = client.post("/hotline/sms", data=form, base_url=PUBLIC)
    assert missing.status_code == 403
    # a signature for other parameters does not carry over
    tampered = dict(form, Body="STOP")
    response = client.post("/hotline/sms", data=tampered, base_url=PUBLIC,
                           headers={"X-Twilio-Signature": sign(f"{PUBLIC}/hotline/sms", form)})
    assert response.status_code == 403
    assert inbound_log(app) == [] and count(app, Suppression) == 0


def test_behind_a_tls_proxy_the_public_https_url_is_validated(make_app):
    app = make_app(TRUSTED_PROXIES=1, PUBLIC_BASE_URL="https://elsewhere.example",
                   TWILIO_AUTH_TOKEN="proxy-token")
    client = app.test_client()
    form = {"MessageSid": "SM" + "2" * 32, "From": UK, "To": "+15005550006", "Body": "HELP"}
    public = "https://portal.example.com/hotline/sms"
    headers = {"X-Twilio-Signature": sign(public, form, "proxy-token"),
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example.com",
               "X-Forwarded-For": "54.172.60.1"}
    # the app itself is reached over plain http on an internal name
    response = client.post("/hotline/sms", data=form, base_url="http://10.0.0.5:8000",
                           headers=headers)
    assert response.status_code == 200 and "<Message>" in response.get_data(as_text=True)
    # signed for the internal URL instead: refused
    headers["X-Twilio-Signature"] = sign("http://10.0.0.5:8000/hotline/sms", form, "proxy-token")
    assert client.post("/hotline/sms", data=form, base_url="http://10.0.0.5:8000",
                       headers=headers).status_code == 403


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app(TRUSTED_PROXIES=0, PUBLIC_BASE_URL="https://elsewhere.example",
                   TWILIO_AUTH_TOKEN="proxy-token")
    form = {"MessageSid": "SM" + "3" * 32, "From": UK, "To": "+15005550006", "Body": "HELP"}
    headers = {"X-Twilio-Signature": sign("https://portal.example.com/hotline/sms", form,
                                          "proxy-token"),
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example.com"}
    response = app.test_client().post("/hotline/sms", data=form,
                                      base_url="http://10.0.0.5:8000", headers=headers)
    assert response.status_code == 403


def test_the_configured_public_url_is_accepted(make_app):
    """Twilio signs the URL from its console, i.e. PUBLIC_BASE_URL + path."""
    app = make_app(PUBLIC_BASE_URL="https://sms.courier.example", TWILIO_AUTH_TOKEN="t2")
    form = {"MessageSid": "SM" + "4" * 32, "From": UK, "To": "+15005550006", "Body": "HELP"}
    headers = {"X-Twilio-Signature": sign("https://sms.courier.example/hotline/sms", form, "t2")}
    response = app.test_client().post("/hotline/sms", data=form, base_url="http://127.0.0.1",
                                      headers=headers)
    assert response.status_code == 200


# --- commands and languages ----------------------------------------------------------------

def test_help_in_each_language(app, client):
    english = reply_of(text(client, "HELP", UK))
    simplified = reply_of(text(client, "帮助", "+8613800138000"))
    traditional = reply_of(text(client, "幫助", TW))
    assert "95000" in english and "TD" in english and sms.is_gsm7(english)
    assert "客服热线" in simplified and "95000" in simplified
    assert "客服熱線" in traditional
    for reply in (english, simplified, traditional):
        assert sms.segments(reply) <= 2


def test_tracking_number_gets_the_public_lookup_answer(app, client):
    reference = affected_parcel(app, SF)
    english = reply_of(text(client, SF.lower(), UK))
    assert english.startswith(f"{SF}: Delayed, Fire at the Shenzhen hub ({reference}).")
    assert "New date" in english and sms.is_gsm7(english)
    chinese = reply_of(text(client, "查询 " + SF.translate(
        {c: c + 0xFEE0 for c in range(0x21, 0x7F)}), "+8613800138000"))
    assert chinese.startswith(f"【速递】{SF}：延误，深圳分拨中心火灾（{reference}）")
    assert sms.segments(chinese) <= 2
    # nothing beyond the public answer: no phone digits, no history, no location
    assert "last" not in english.lower()


def test_not_listed_and_malformed_numbers(app, client):
    reply = reply_of(text(client, "SF7444400048449, 12345", UK))
    assert "SF7444400048449: not listed" in reply
    assert "12345: not a valid tracking number." in reply
    chinese = reply_of(text(client, "SF7444400048449", TW))
    assert "未列入任何受事件影響的包裹名單" in chinese


def test_language_is_remembered_per_number(app, client):
    assert "客服熱線" in reply_of(text(client, "你好，幫助", UK))  # words decide, and stay
    reply = reply_of(text(client, "SF7444400048449", UK))
    assert "未列入" in reply  # a bare number: the remembered language
    assert reply_of(text(client, "hello, where is my parcel", UK)).startswith("Sorry")
    assert reply_of(text(client, "SF7444400048449", UK)).startswith("SF7444400048449: not")


def test_region_decides_when_nothing_else_does(app, client):
    assert "未列入任何受事件影響" in reply_of(text(client, "SF7444400048449", HK))
    assert "未列入任何受事件影响" in reply_of(text(client, "SF7444400048449", "+8613800138000"))
    assert "not listed" in reply_of(text(client, "SF7444400048449", UK))


def test_subscribe_in_both_languages_is_confirmed_by_the_reply(app, client):
    english = reply_of(text(client, f"sub {SF}", UK))
    chinese = reply_of(text(client, f"订阅{SF}", "+8613800138000"))
    assert english == f"You will get SMS updates on {SF}. Text TD to stop."
    assert chinese == f"【速递】已订阅{SF}的短信通知。回TD退订。"
    with app.app_context():
        subs = db.session.scalars(select(Subscription).order_by(Subscription.id)).all()
        assert [(s.address, s.topic_type, s.topic_key, s.status, s.source, s.language)
                for s in subs] == [
            (UK, "parcel", SF, "confirmed", "sms", "en"),
            ("+8613800138000", "parcel", SF, "confirmed", "sms", "zh_Hans")]


def test_subscribe_with_a_bad_number_or_none(app, client):
    assert "Not a valid tracking number: 12345" in reply_of(text(client, "SUB 12345", UK))
    assert reply_of(text(client, "订阅", "+8613800138000")).startswith("【速递】接收通知请发")
    assert count(app, Subscription) == 0


@pytest.mark.parametrize("word,language", [("TD", "en"), ("退订", "zh_Hans"), ("退訂", "zh_Hant")])
def test_td_unsubscribes_from_everything_and_confirms(app, client, word, language):
    sender = {"en": UK, "zh_Hans": "+8613800138000", "zh_Hant": TW}[language]
    text(client, f"SUB {SF}", sender)
    text(client, "SUB SF7444400048449", sender)
    reply = reply_of(text(client, word, sender))
    expected = {"en": "Unsubscribed", "zh_Hans": "已退订", "zh_Hant": "已退訂"}[language]
    assert expected in reply
    with app.app_context():
        assert {s.status for s in db.session.scalars(select(Subscription))} == {"unsubscribed"}
        assert db.session.get(Suppression, ("sms", sender)).reason == "sms:TD"
    # afterwards: no reply to ordinary messages (the number opted out)
    assert reply_of(text(client, "SF7444400048449", sender)) is None
    # HELP is still answered
    assert reply_of(text(client, "HELP", sender)) is not None


@pytest.mark.parametrize("word", ["STOP", "unsubscribe", "Cancel", "QUIT"])
def test_twilio_stop_words_are_recorded_with_no_reply(app, client, word):
    text(client, f"SUB {SF}", UK)
    assert reply_of(text(client, word, UK)) is None  # Twilio answers these itself
    with app.app_context():
        assert db.session.get(Suppression, ("sms", UK)).reason == "twilio:STOP"
        assert db.session.scalar(select(Subscription.status)) == "unsubscribed"


def test_start_records_the_opt_in(app, client):
    text(client, "STOP", UK)
    assert reply_of(text(client, "START", UK)) is None  # Twilio confirms itself
    with app.app_context():
        assert db.session.get(Suppression, ("sms", UK)) is None
    assert reply_of(text(client, "SF7444400048449", UK)).startswith("SF7444400048449")


def test_sub_after_td_is_an_opt_in(app, client):
    text(client, "TD", UK)
    assert reply_of(text(client, f"SUB {SF}", UK)).startswith("You will get")
    with app.app_context():
        assert db.session.get(Suppression, ("sms", UK)) is None


# --- cases ----------------------------------------------------------------------------------

def test_case_status_only_to_the_phone_on_the_case(app, client):
    reference = make_case(app, HK)
    own = reply_of(text(client, reference.lower().replace("-", " "), HK))
    with app.app_context(), __import__("flask_babel").force_locale("zh_Hant"):
        from portal.cases.views import STATE_LABELS

        label = str(STATE_LABELS["open"])
    assert own.startswith(f"案件{reference}：{label}。") and label != "Being handled"
    stranger = reply_of(text(client, reference, TW))
    nonexistent = reply_of(text(client, "CS-2222-3333", TW))
    assert reference in stranger and "只發給案件登記的手機" in stranger
    assert stranger.replace(reference, "X") == nonexistent.replace("CS-2222-3333", "X")
    english = reply_of(text(client, reference, UK))
    assert "only give the status" in english and "Being handled" not in english


def test_complaint_creates_a_case_routed_like_any_other(app, client):
    from portal.cases.models import Case

    reply = reply_of(text(client, f"我的快递{SF}丢了，要投诉", "+8613800138000"))
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        assert case.kind == "complaint" and case.source == "sms"
        assert case.phone_e164 == "+8613800138000" and case.tracking_number == SF
        assert case.messages[0].body == f"我的快递{SF}丢了,要投诉"
        assert reply == f"【速递】很抱歉。已为您登记案件{case.reference}，我们会尽快答复。"
        reference = case.reference
    # the next message from that phone goes to the open case
    again = reply_of(text(client, "still nothing, terrible", "+8613800138000"))
    assert reference in again
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        assert [m.body for m in case.messages][-1] == "still nothing, terrible"


def test_plain_text_without_a_case_gets_a_short_reply(app, client):
    from portal.cases.models import Case

    reply = reply_of(text(client, "hello", UK))
    assert reply.startswith("Sorry, we did not understand") and sms.segments(reply) == 1
    assert reply_of(text(client, "你好", "+8613800138000")).startswith("【速递】抱歉，未能识别")
    assert count(app, Case) == 0


def test_a_retried_webhook_is_acted_on_once(app, client):
    from portal.cases.models import Case

    first = reply_of(text(client, "parcel lost, I complain", UK, sid="SM" + "9" * 32))
    second = reply_of(text(client, "parcel lost, I complain", UK, sid="SM" + "9" * 32))
    assert first == second and count(app, Case) == 1 and len(inbound_log(app)) == 1


# --- limits ------------------------------------------------------------------------------

def test_per_number_limit_tells_once_then_stays_silent(app, client):
    app.config.update(RATELIMIT_HOTLINE_NUMBER="2 per minute")
    assert reply_of(text(client, "HELP", UK))
    assert reply_of(text(client, "HELP", UK))
    assert reply_of(text(client, "HELP", UK)).startswith("Too many messages")
    assert reply_of(text(client, "HELP", UK)) is None
    assert reply_of(text(client, "HELP", HK))  # another number is not affected
    # opting out always works, even when limited
    assert reply_of(text(client, "TD", UK)).startswith("Unsubscribed")
    assert [m.outcome for m in inbound_log(app)][2:4] == ["rate_limited", "rate_limited"]
