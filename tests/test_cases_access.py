"""The customer's view: status page privacy (digits, lock-out, signed link), adding
information, answering an offer, reference recovery, the rating link."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.cases import access, lifecycle
from portal.cases.models import Case
from portal.extensions import db
from portal.staff.models import StaffUser
from tests.test_cases_support import PHONE, file_claim, get_case, outbox, tracking, upload


def _open_with_digits(client, ref, digits):
    return client.post("/claims/find?lang=en", data={"open-reference": ref, "open-digits": digits})


def test_status_page_needs_the_last_four_digits(client, app):
    ref = file_claim(client)
    stranger = app.test_client()
    page = stranger.get(f"/claims/{ref}?lang=en").get_data(as_text=True)
    assert "last 4 digits" in page and "Li Lei" not in page and "five days late" not in page
    wrong = _open_with_digits(stranger, ref, "1234")
    assert wrong.status_code == 422
    assert "do not match" in wrong.get_data(as_text=True)
    right = _open_with_digits(stranger, ref, PHONE[-4:])
    assert right.status_code == 303
    page = stranger.get(right.headers["Location"]).get_data(as_text=True)
    assert "five days late" in page and "Being handled" not in page and "Received" in page


def test_unknown_reference_answers_like_wrong_digits(client, app):
    ref = file_claim(client)
    real = _open_with_digits(app.test_client(), ref, "0000").get_data(as_text=True)
    fake = _open_with_digits(app.test_client(), "CS-2222-3333", "0000").get_data(as_text=True)
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731
    assert strip(real).replace(ref, "X") == strip(fake).replace("CS-2222-3333", "X")


def test_lock_out_after_repeated_wrong_digits(client, app):
    app.config["VERIFY_MAX_FAILURES"] = 3
    ref = file_claim(client)
    attacker = app.test_client()
    for _ in range(3):
        _open_with_digits(attacker, ref, "9999")
    locked = _open_with_digits(attacker, ref, PHONE[-4:])  # even the right digits now fail
    assert locked.status_code == 422
    assert "Too many wrong tries" in locked.get_data(as_text=True)


def test_signed_link_opens_and_tampered_or_revoked_does_not(client, app):
    ref = file_claim(client)
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        url = access.status_url(case, "en")
    path = url.replace("http://portal.test", "")
    reader = app.test_client()
    response = reader.get(path)
    assert response.status_code == 303
    assert "five days late" in reader.get(response.headers["Location"]).get_data(as_text=True)
    other = app.test_client()
    tampered = other.get(path[:-3] + "abc").get_data(as_text=True)
    assert "not valid any more" in tampered and "five days late" not in tampered
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        case.access_nonce = "revoked"
        db.session.commit()
    assert "five days late" not in app.test_client().get(path).get_data(as_text=True)


def test_a_link_signed_with_a_retired_secret_key_no_longer_opens(client, app):
    ref = file_claim(client)
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        old_path = access.status_url(case, "en").replace("http://portal.test", "")
    assert app.test_client().get(old_path).status_code == 303  # opens
    app.config["SECRET_KEY"] = "rotated-" + "s" * 40
    page = app.test_client().get(old_path).get_data(as_text=True)
    assert "not valid any more" in page and "five days late" not in page
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        new_path = access.status_url(case, "en").replace("http://portal.test", "")
    assert new_path != old_path and app.test_client().get(new_path).status_code == 303


def test_actions_need_access(client, app):
    ref = file_claim(client)
    stranger = app.test_client()
    assert stranger.post(f"/claims/{ref}/message", data={"body": "hi"}).status_code == 403
    assert stranger.post(f"/claims/{ref}/answer", data={"answer": "accept"}).status_code == 403


def test_customer_adds_information_and_files(client, app):
    ref = file_claim(client)
    response = client.post(f"/claims/{ref}/message?lang=en",
                           data={"body": "Here is the receipt.",
                                 "evidence": [upload("receipt.pdf")]},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    case = get_case(app, ref)
    assert case.messages[-1].body == "Here is the receipt."
    assert [e.content_type for e in case.evidence] == ["application/pdf"]
    bad = client.post(f"/claims/{ref}/message?lang=en",
                      data={"body": "x", "evidence": [upload("not_a_photo.jpg")]},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "is not a photo" in bad.get_data(as_text=True)


def test_customer_accepts_an_offer_on_the_status_page(client, app, staff_factory):
    ref = file_claim(client)
    staff_id = staff_factory("agent", "agent@example.com")
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        lifecycle.offer(case, 2350, db.session.get(StaffUser, staff_id), "freight refund")
        db.session.commit()
    page = client.get(f"/claims/{ref}?lang=en").get_data(as_text=True)
    assert "We offer you ¥23.50" in page and "Waiting for your answer" in page
    declined = client.post(f"/claims/{ref}/answer?lang=en", data={"answer": "decline"})
    assert declined.status_code == 422 and "Tell us why you decline" in declined.get_data(
        as_text=True)
    assert client.post(f"/claims/{ref}/answer?lang=en",
                       data={"answer": "accept"}).status_code == 303
    page = client.get(f"/claims/{ref}?lang=en").get_data(as_text=True)
    assert "You accepted ¥23.50" in page
    assert get_case(app, ref).decision == "accepted"


def test_lost_reference_is_sent_never_shown(client, app):
    ref = file_claim(client)
    someone = app.test_client()
    known = someone.post("/claims/find?lang=en",
                         data={"action": "recover", "lost-contact": "+86 138 0013 8000"})
    unknown = someone.post("/claims/find?lang=en",
                           data={"action": "recover", "lost-contact": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    known_page, unknown_page = known.get_data(as_text=True), unknown.get_data(as_text=True)
    assert ref not in known_page
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731
    assert strip(known_page) == strip(unknown_page)
    sent = outbox(app, "case_references")
    assert [(r.channel, r.recipient) for r in sent] == [("sms", "+8613800138000")]
    assert ref in sent[0].body_text
    by_email = someone.post("/claims/find?lang=en",
                            data={"action": "recover", "lost-contact": "LI@example.com"})
    assert by_email.status_code == 200
    assert any(r.recipient == "li@example.com" and ref in r.body_text
               for r in outbox(app, "case_references"))
    nonsense = someone.post("/claims/find?lang=en",
                            data={"action": "recover", "lost-contact": "hello"})
    assert nonsense.status_code == 422


def test_rating_from_the_link_without_login(client, app, staff_factory):
    ref = file_claim(client, tracking_number=tracking())
    staff_id = staff_factory("agent", "agent@example.com")
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == ref))
        early = access.rating_url(case, "en").replace("http://portal.test", "")
        lifecycle.change_state(case, "closed", actor=db.session.get(StaffUser, staff_id))
        db.session.commit()
    mail = next(r for r in outbox(app, "case_rating") if r.channel == "email")
    link = re.search(r"(http://portal.test/claims/\S+?)&score=5", mail.body_text).group(1)
    path = link.replace("http://portal.test", "")
    # Same page and case; the signed token carries its signing second, so it may differ.
    assert path.split("t=")[0] == early.split("t=")[0]
    visitor = app.test_client()  # no session, no digits: the link is enough
    page = visitor.get(path + "&score=5").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="5"', page)  # the clicked score is pre-chosen
    token = re.search(r"[?&]t=([^&]+)", path).group(1)
    response = visitor.post(f"/claims/{ref}/rate?lang=en",
                            data={"t": token, "score": "5", "comment": "Fast and fair"})
    assert "Thank you for your rating" in response.get_data(as_text=True)
    assert (get_case(app, ref).rating.score, get_case(app, ref).rating.comment) == (
        5, "Fast and fair")
    assert app.test_client().get(f"/claims/{ref}/rate?t=forged").status_code == 403
    bad = visitor.post(f"/claims/{ref}/rate?lang=en", data={"t": token, "score": "9"})
    assert bad.status_code == 200 and get_case(app, ref).rating.score == 5
