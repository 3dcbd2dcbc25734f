"""The claim form: validation per type, estimate, nothing lost, double and duplicate
submissions, no leak to another phone, rate limits."""

from __future__ import annotations

import contextlib

import pytest

from tests.test_cases_support import (
    OTHER_PHONE,
    count_cases,
    file_claim,
    get_case,
    outbox,
    post_claim,
    reference_from,
    tracking,
    upload,
)


def test_prefilled_from_tracking_and_every_group_present_without_js(client):
    page = client.get("/claims/new?tracking=sf1234567890123&lang=en").get_data(as_text=True)
    assert 'value="sf1234567890123"' in page
    for name in ("freight", "claimed", "declared_value", "insured", "damaged_percent",
                 "evidence", "consent", "submission_token"):
        assert f'name="{name}"' in page
    assert "<script>" not in page and "style=" not in page
    assert 'src="/static/js/claim-form.js"' in page


@pytest.mark.parametrize("case_type,missing,field,message", [
    ("delay", {"freight": ""}, "freight", "Enter the freight you paid"),
    ("loss", {"claimed": "", "freight": "20"}, "claimed", "Enter the value you claim"),
    ("loss", {"claimed": "100", "freight": ""}, "freight", "Enter the freight you paid"),
    ("damage", {"claimed": "", "insured": "y"}, "claimed", "Enter the value you claim"),
    ("damage", {"claimed": "100", "insured": "y"}, "declared_value",
     "Enter the declared value of the insured parcel"),
    ("wrong_delivery", {"tracking_number": ""}, "tracking_number", "Enter the tracking number"),
    ("complaint_attitude", {"description": "rude"}, "description", "Between 10 and 4,000"),
    ("complaint_not_to_door", {"consent": None}, "consent", "Your consent is needed"),
    ("complaint_signed_without_consent", {"phone": "12345"}, "phone",
     "Enter a valid mobile number"),
    ("other", {"email": "not-an-email"}, "email", "Enter a valid email address"),
])
def test_each_type_validates_next_to_the_field(client, app, case_type, missing, field, message):
    response = post_claim(client, type=case_type, **missing)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{field}-error"' in page  # the message sits next to its field
    assert 'aria-invalid="true"' in page
    assert count_cases(app) == 0


def test_complaints_need_no_amounts_and_other_needs_no_tracking(client, app):
    ref = file_claim(client, type="complaint_attitude", freight="", tracking_number=tracking())
    case = get_case(app, ref)
    assert (case.kind, case.freight_fen, case.suggested_fen) == ("complaint", None, None)
    ref2 = file_claim(client, type="other", tracking_number="", freight="")
    assert get_case(app, ref2).kind == "enquiry"


def test_errors_in_the_readers_language(client):
    response = client.post("/claims/new?lang=zh_Hans", data={"type": "delay"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert 'id="customer_name-error"' in page and 'id="consent-error"' in page


def test_bad_input_never_500(client):
    for data in ({"type": "nonsense"}, {"damaged_percent": "abc", "type": "damage"},
                 {"claimed": "1e999", "type": "loss"}, {"freight": "-5"},
                 {"claimed": "12.345", "type": "loss"}, {"claimed": "NaN", "type": "loss"},
                 {"phone_region": "XX"}, {"submission_token": "x" * 500}):
        assert post_claim(client, **data).status_code in (303, 422), data


def test_phone_regions_stored_as_e164(client, app):
    cases = [("CN", "138 0013 8000", "+8613800138000"), ("HK", "5123 4567", "+85251234567"),
             ("MO", "6612 3456", "+85366123456"), ("TW", "0912 345 678", "+886912345678"),
             ("ZZ", "+44 7911 123456", "+447911123456")]
    for region, typed, e164 in cases:
        ref = file_claim(client, phone_region=region, phone=typed, tracking_number=tracking())
        assert get_case(app, ref).phone_e164 == e164


def test_amounts_in_fen_and_estimate_shown_before_submitting(client, app):
    response = post_claim(client, type="loss", claimed="１,200.5", freight="￥20",
                          action="estimate")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "What the policy allows (estimate)" in page
    assert "¥140.00" in page  # 7 x freight
    assert "estimate based on the values you entered" in page
    assert count_cases(app) == 0  # checking files nothing


def test_nothing_typed_is_lost_and_files_are_kept(client, app):
    response = post_claim(client, type="damage", claimed="300", description="short",
                          files=[upload("photo.png")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Li Lei" in page and "300" in page and "photo.png" in page
    assert "Your files are kept" in page
    token = _token(page)
    ref = file_claim(client, type="damage", claimed="300", damaged_percent="40",
                     submission_token=token)
    case = get_case(app, ref)
    assert len(case.evidence) == 1 and case.evidence[0].original_name == "photo.png"


def _token(page: str) -> str:
    import re

    return re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page).group(1)


def test_double_submission_creates_one_case_and_one_confirmation(client, app):
    data = {"submission_token": "double-click-token", "tracking_number": tracking()}
    first = post_claim(client, **data)
    second = post_claim(client, **data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count_cases(app) == 1
    assert len(outbox(app, "case_received")) == 2  # one email + one SMS, once


def test_same_phone_same_parcel_is_appended_and_customer_told(client, app):
    number = tracking()
    ref = file_claim(client, tracking_number=number)
    response = post_claim(client, tracking_number=number, description="Still not here, day 6.")
    assert response.status_code == 303 and response.headers["Location"].startswith(
        "/claims/new/added")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "added what you sent to that case" in page
    assert ref not in page  # the reference is sent to the contacts on file, never shown
    case = get_case(app, ref)
    assert count_cases(app) == 1
    assert [m.body for m in case.messages][-1] == "Still not here, day 6."
    sent = outbox(app, "case_appended")
    assert sent and all(row.recipient in ("li@example.com", "+8613800138000") for row in sent)


def test_another_phone_gets_a_new_case_and_learns_nothing(client, app):
    number = tracking()
    ref = file_claim(client, tracking_number=number)
    stranger = app.test_client()
    response = post_claim(stranger, tracking_number=number, phone=OTHER_PHONE,
                          email="stranger@example.com")
    assert response.status_code == 303
    assert reference_from(response) != ref
    page = stranger.get(response.headers["Location"]).get_data(as_text=True)
    assert ref not in page and "open case" not in page
    assert count_cases(app) == 2
    assert not [r for r in outbox(app) if r.recipient == "stranger@example.com"
                and ref in (r.body_text or "")]


def test_rate_limited_per_phone(client, app):
    app.config["RATELIMIT_CASE_PHONE"] = "2 per day"
    file_claim(client, tracking_number=tracking())
    file_claim(client, tracking_number=tracking())
    response = post_claim(client, tracking_number=tracking())
    assert response.status_code == 422
    assert "Too many cases from this phone number" in response.get_data(as_text=True)
    assert count_cases(app) == 2


def test_rate_limited_per_client(make_app):
    limited = make_app(RATELIMIT_CASE_SUBMIT="2 per hour")
    client = limited.test_client()
    assert post_claim(client, tracking_number=tracking()).status_code == 303
    assert post_claim(client, tracking_number=tracking()).status_code == 303
    assert post_claim(client, tracking_number=tracking()).status_code == 429
    assert client.get("/claims/new").status_code == 200  # reading the form stays free


def test_reference_shown_only_after_commit(client, app, monkeypatch):
    from portal.extensions import db

    def fail_commit():
        raise RuntimeError("database went away")

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", fail_commit)
        response = None
        with contextlib.suppress(RuntimeError):
            response = post_claim(client, tracking_number=tracking())
    assert response is None or response.status_code >= 500
    monkeypatch.undo()
    assert count_cases(app) == 0
    assert outbox(app) == []


def test_claim_linked_to_affected_parcel_and_incident(client, app):
    from portal.extensions import db
    from portal.incidents.models import Incident
    from portal.parcels.models import AffectedParcel

    number = tracking()
    with app.app_context():
        incident = Incident(reference="IN-TEST-0001", title={"en": "Fire"}, visibility="published",
                            standing_offer={"en": "We refund 30 yuan."},
                            standing_offer_policy={"claim_types": ["delay"], "formula": "flat",
                                                   "amount_fen": 3000})
        db.session.add(incident)
        db.session.flush()
        db.session.add(AffectedParcel(incident_id=incident.id, tracking_number=number,
                                      service_line="express", situation="delayed"))
        db.session.commit()
    response = post_claim(client, tracking_number=number, action="estimate")
    page = response.get_data(as_text=True)
    assert "¥30.00" in page and "standing offer" in page
    ref = file_claim(client, tracking_number=number)
    case = get_case(app, ref)
    assert case.incident_id is not None and case.parcel_id is not None
    assert case.service_line == "express" and case.suggested_fen == 3000


@pytest.mark.parametrize("number", ["EA123456789CN", "SF12", "hello world!"])
def test_tracking_number_validated_with_the_parcels_rules(client, app, number):
    response = post_claim(client, tracking_number=number)
    assert response.status_code == 422
    assert 'id="tracking_number-error"' in response.get_data(as_text=True)
    assert count_cases(app) == 0


def test_tracking_number_normalised_from_pasted_forms(client, app):
    ref = file_claim(client, tracking_number="ｓｆ 7444-4000-48449")
    assert get_case(app, ref).tracking_number == "SF7444400048449"


def test_concurrent_submissions_all_succeed(app):
    """Four clients at once (SQLite: read-then-write transactions must not fail)."""
    import threading

    results = []

    def client_loop(index):
        client = app.test_client()
        for n in range(5):  # distinct phones: the per-phone limit is not under test here
            results.append(post_claim(client, tracking_number=tracking(),
                                      phone=f"1390000{index}{n:03d}").status_code)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [303] * 20
    assert count_cases(app) == 20


@pytest.mark.parametrize("suppressed", [(), ("sms",), ("email",), ("sms", "email")])
def test_the_confirmation_honours_suppressed_contacts_read_with_the_duplicate_check(
        client, app, suppressed):
    from portal.db import utcnow
    from portal.extensions import db
    from portal.notifications.models import Suppression

    phone, email = "+8613912345678", "wang@example.com"
    with app.app_context():
        for channel in suppressed:
            db.session.add(Suppression(channel=channel, address=phone if channel == "sms"
                                       else email, reason="opt_out", created_at=utcnow()))
        db.session.commit()
    file_claim(client, tracking_number=tracking(), phone="13912345678", email=email)
    rows = {row.channel: row.status for row in outbox(app, "case_received")}
    assert rows == {channel: "suppressed" if channel in suppressed else "pending"
                    for channel in ("sms", "email")}
