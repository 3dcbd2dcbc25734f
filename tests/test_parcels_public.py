"""Public look-up, details after the last-4 check (privacy and lock-out), subscriptions,
rate limits, the API and the staff pages."""

from __future__ import annotations

import io

import pytest
from test_parcels_support import JT, S10, SF, csv_bytes, import_file, make_incident, parcels

from portal.extensions import db


@pytest.fixture(autouse=True)
def _import_folder(app, tmp_path):
    app.config["PARCEL_IMPORT_FOLDER"] = str(tmp_path / "imports")


@pytest.fixture
def listed(app, tmp_path):
    """A published incident listing SF (recipient phone ...1234) and a drill listing JT."""
    ref = make_incident(app)
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes([[SF, "delayed", "2026-03-05", "13800001234", "深圳分拨中心"]],
                               ["运单号", "状态", "新预计送达日期", "收件人电话", "最后位置"]))
    import_file(app, ref, path)
    drill = make_incident(app, publish=False, drill=True)
    path.write_bytes(csv_bytes([[JT, "lost"]], ["运单号", "状态"]))
    import_file(app, drill, path)
    return ref


def test_lookup_answers_each_number(client, listed):
    response = client.get("/parcels", query_string={
        "q": f"ｓｆ{SF[2:]}\n{S10}, EA123456789CN", "lang": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'parcel-affected" data-number="{SF}"' in html
    assert "Fire at the Shenzhen hub" in html and f"/incidents/{listed}" in html
    assert "Delayed" in html and "2026" in html
    assert f'parcel-not_listed" data-number="{S10}"' in html and "Not listed" in html
    assert 'parcel-malformed' in html and "check digit" in html
    assert f"/claims/new?tracking={SF}" in html
    assert "深圳分拨中心" not in html  # details need the last 4 digits


def test_drill_and_draft_parcels_are_not_public(client, listed):
    html = client.get("/parcels", query_string={"q": JT, "lang": "en"}).get_data(as_text=True)
    assert "parcel-not_listed" in html and "parcel-affected" not in html


def test_lookup_is_cacheable_and_cookie_free(client, listed):
    response = client.get("/parcels", query_string={"q": SF})
    assert "Set-Cookie" not in response.headers
    assert "public" in response.headers["Cache-Control"] and response.headers["ETag"]
    again = client.get("/parcels", query_string={"q": SF},
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_new_import_shows_at_once_despite_the_cache(app, client, listed, tmp_path):
    first = client.get("/parcels", query_string={"q": S10}).get_data(as_text=True)
    assert "parcel-not_listed" in first
    path = tmp_path / "b.csv"
    path.write_bytes(csv_bytes([[S10]], ["运单号"]))
    import_file(app, listed, path)
    assert "parcel-affected" in client.get("/parcels", query_string={"q": S10}).get_data(
        as_text=True)


def test_garbage_input_never_fails(client):
    for q in ["", "\x00\x01", "，，，", "a" * 5000, "SF" * 300, "🙂 ١٢٣٤٥٦٧٨٩٠١٢٣"]:
        assert client.get("/parcels", query_string={"q": q}).status_code == 200
    assert client.get("/parcels/%00/details").status_code == 400
    assert client.get("/api/v1/parcels/abc").status_code == 400


def test_details_need_the_last_four_digits(client, listed):
    url = f"/parcels/{SF}/details?lang=en"
    page = client.get(url).get_data(as_text=True)
    assert "深圳分拨中心" not in page
    wrong = client.post(url, data={"digits": "0000"}).get_data(as_text=True)
    assert "深圳分拨中心" not in wrong and "cannot show details" in wrong
    right = client.post(url, data={"digits": "１２３４"}).get_data(as_text=True)
    assert "深圳分拨中心" in right and "Delayed" in right


def test_not_listed_and_wrong_digits_look_the_same(client, listed):
    a = client.post(f"/parcels/{SF}/details?lang=en", data={"digits": "9999"})
    b = client.post(f"/parcels/{S10}/details?lang=en", data={"digits": "9999"})
    strip = lambda r: r.get_data(as_text=True).replace(SF, "N").replace(S10, "N")  # noqa: E731
    assert a.status_code == b.status_code == 200
    assert strip(a) == strip(b)


def test_lockout_after_repeated_wrong_digits(app, client, listed):
    app.config["VERIFY_MAX_FAILURES"] = 3
    url = f"/parcels/{SF}/details?lang=en"
    statuses = [client.post(url, data={"digits": f"{n:04d}"}).status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    locked = client.post(url, data={"digits": "1234"})  # even the right digits
    assert locked.status_code == 429 and "深圳分拨中心" not in locked.get_data(as_text=True)


def test_rate_limits_on_lookup_and_details(make_app, listed):
    limited = make_app(RATELIMIT_PARCEL_LOOKUP="3 per minute",
                       RATELIMIT_PARCEL_DETAILS="2 per minute")
    client = limited.test_client()
    codes = [client.get("/parcels", query_string={"q": SF}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    codes = [client.post(f"/parcels/{SF}/details", data={"digits": "0000"}).status_code
             for _ in range(3)]
    assert codes[-1] == 429
    assert client.get(f"/parcels/{SF}/details").status_code == 200  # reading is free


def test_subscribe_to_a_parcel(app, client, listed):
    from sqlalchemy import select

    from portal.notifications.models import Subscription

    response = client.post(f"/parcels/{SF}/subscribe?lang=en",
                           data={"channel": "email", "address": "Ann@Example.com"})
    assert response.status_code == 200 and "confirmation" in response.get_data(as_text=True)
    bad = client.post(f"/parcels/{SF}/subscribe?lang=en",
                      data={"channel": "sms", "address": "12"})
    assert "valid mobile number" in bad.get_data(as_text=True)
    with app.app_context():
        subs = list(db.session.scalars(select(Subscription)))
    assert [(s.topic_type, s.topic_key, s.address, s.status) for s in subs] == [
        ("parcel", SF, "ann@example.com", "pending")]


def test_api_get_parcel(client, listed):
    body = client.get(f"/api/v1/parcels/{SF.lower()}").get_json()
    assert body["affected"] is True and body["tracking_number"] == SF
    assert body["listings"][0]["incident"] == listed
    assert body["listings"][0]["situation"] == "delayed"
    assert "recipient_tail" not in str(body) and "深圳" not in str(body)
    assert client.get(f"/api/v1/parcels/{S10}").get_json()["affected"] is False
    assert client.get(f"/api/v1/parcels/{JT}").get_json()["affected"] is False  # drill
    bad = client.get("/api/v1/parcels/EA123456789CN")
    assert bad.status_code == 400 and "check digit" in bad.get_json()["error"]["message"]


def _token(app, scopes):
    from portal.api.auth import create_token

    with app.app_context():
        _row, raw = create_token("carrier", scopes)
        db.session.commit()
        return raw


def test_api_push_parcels(app, client, listed):
    raw = _token(app, ["parcels:write"])
    headers = {"Authorization": f"Bearer {raw}"}
    items = [{"tracking_number": S10, "situation": "held", "recipient_phone": "5555"},
             {"tracking_number": "nope"}, "not an object"]
    response = client.post(f"/api/v1/incidents/{listed}/parcels", json=items, headers=headers)
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["inserted"], body["rejected"]) == (1, 2)
    assert {r["item"] for r in body["rejects"]} == {2, 3}
    assert parcels(app)[S10]["situation"] == "held"
    replaced = client.post(f"/api/v1/incidents/{listed}/parcels",
                           json={"mode": "replace", "parcels": [{"运单号": S10}]},
                           headers=headers).get_json()
    assert replaced["deactivated"] == 1 and not parcels(app)[SF]["active"]


def test_api_push_refusals(app, client, listed):
    assert client.post(f"/api/v1/incidents/{listed}/parcels", json=[]).status_code == 401
    weak = {"Authorization": f"Bearer {_token(app, ['cases:read'])}"}
    assert client.post(f"/api/v1/incidents/{listed}/parcels", json=[],
                       headers=weak).status_code == 403
    good = {"Authorization": f"Bearer {_token(app, ['parcels:write'])}"}
    assert client.post("/api/v1/incidents/NOPE/parcels", json=[],
                       headers=good).status_code == 404
    assert client.post(f"/api/v1/incidents/{listed}/parcels", data="{{",
                       headers=good).status_code == 400
    assert client.post(f"/api/v1/incidents/{listed}/parcels", json={"mode": "x",
                       "parcels": []}, headers=good).status_code == 400
    app.config["PARCEL_API_MAX_ITEMS"] = 2
    assert client.post(f"/api/v1/incidents/{listed}/parcels", json=[{}] * 3,
                       headers=good).status_code == 413


def test_staff_upload_page_undo_and_rejects(app, client, login_as, listed):
    login_as(client, "responder")
    page = client.get(f"/staff/parcels/incidents/{listed}")
    assert page.status_code == 200 and "Import" in page.get_data(as_text=True)
    data = csv_bytes([[S10, "held"], ["junk", ""]], ["运单号", "状态"], encoding="gb18030")
    response = client.post(f"/staff/parcels/incidents/{listed}/import",
                           data={"file": (io.BytesIO(data), "list.csv"), "mode": "add"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    batch_url = response.headers["Location"]
    html = client.get(batch_url).get_data(as_text=True)
    assert "junk" in html and "Undo" in html
    csv_text = client.get(batch_url + "/rejected-rows.csv").get_data(as_text=True)
    assert "line,tracking_number,reason" in csv_text and "junk" in csv_text
    assert client.post(batch_url + "/undo").status_code == 302
    assert S10 not in parcels(app)
    template = client.get("/staff/parcels/template.csv?names=zh")
    assert template.get_data(as_text=True).lstrip("\ufeff").startswith("运单号,")


def test_staff_upload_big_file_runs_as_background_job(app, client, login_as, listed):
    app.config["PARCEL_IMPORT_INLINE_BYTES"] = 10
    login_as(client, "commander")
    data = csv_bytes([[S10, "held"]], ["运单号", "状态"])
    response = client.post(f"/staff/parcels/incidents/{listed}/import",
                           data={"file": (io.BytesIO(data), "list.csv"), "mode": "add"},
                           content_type="multipart/form-data")
    assert response.status_code == 302  # eager Celery in tests: the job has run
    assert parcels(app)[S10]["situation"] == "held"


def test_staff_permissions(client, login_as, listed):
    login_as(client, "agent")
    assert client.get(f"/staff/parcels/incidents/{listed}").status_code == 200
    assert client.post(f"/staff/parcels/incidents/{listed}/import").status_code == 403


def test_upload_of_a_non_spreadsheet_is_refused(app, client, login_as, listed):
    login_as(client, "admin")
    response = client.post(f"/staff/parcels/incidents/{listed}/import",
                           data={"file": (io.BytesIO(b"\x00\x01binary"), "x.bin"),
                                 "mode": "add"}, content_type="multipart/form-data",
                           follow_redirects=True)
    assert response.status_code == 200 and "CSV or XLSX" in response.get_data(as_text=True)
