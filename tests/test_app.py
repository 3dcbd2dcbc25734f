"""The skeleton: factory, headers, errors, languages."""

from flask import Blueprint, abort

from portal.extensions import db


def test_home_speaks_traditional_chinese_for_taiwan_browsers(client):
    response = client.get("/", headers={"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.8"})
    assert response.status_code == 200
    assert '<html lang="zh-Hant">' in response.get_data(as_text=True)


def test_lang_parameter_wins_over_accept_language(client):
    response = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_default_language_is_simplified_chinese(zh_client):
    response = zh_client.get("/")
    assert '<html lang="zh-Hans">' in response.get_data(as_text=True)


def test_security_headers_and_strict_csp(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert len(response.headers["X-Request-ID"]) >= 8


def test_incoming_request_id_is_echoed_and_bad_one_replaced(client):
    good = client.get("/", headers={"X-Request-ID": "abcdef1234567890"})
    assert good.headers["X-Request-ID"] == "abcdef1234567890"
    bad = client.get("/", headers={"X-Request-ID": "<script>"})
    assert bad.headers["X-Request-ID"] != "<script>"


def test_404_page_in_readers_language(client):
    response = client.get("/no-such-page?lang=en")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["status"] == 404


def test_500_rolls_back_and_renders_page(make_app):
    from portal.staff.models import StaffUser

    app = make_app()
    client = app.test_client()
    bp = Blueprint("boom_test", __name__)

    @bp.get("/boom-test")
    def boom():
        db.session.add(StaffUser(email="half@saved.test", role="agent", password_hash="x"))
        db.session.flush()
        raise RuntimeError("boom")

    app.register_blueprint(bp)
    response = client.get("/boom-test?lang=en")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(StaffUser).filter_by(email="half@saved.test").count() == 0


def test_abort_inside_view_renders_translated_html(make_app):
    app = make_app()
    client = app.test_client()
    bp = Blueprint("forbidden_test", __name__)

    @bp.get("/forbidden-test")
    def forbidden():
        abort(403)

    app.register_blueprint(bp)
    response = client.get("/forbidden-test", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 403
    assert "<h1>" in response.get_data(as_text=True)


def test_the_session_signer_is_kept_until_the_secret_key_changes(app):
    import pytest
    from itsdangerous import BadSignature

    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    cookie = first.dumps({"grant": "CS-1"})
    old_key = app.secret_key
    app.secret_key = "rotated-" + "k" * 40
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]  # a rotation keeps the old cookies
    rotated = interface.get_signing_serializer(app)
    assert rotated is not first and rotated.loads(cookie) == {"grant": "CS-1"}
    app.config["SECRET_KEY_FALLBACKS"] = []  # the old key retired: its cookies are void
    with pytest.raises(BadSignature):
        interface.get_signing_serializer(app).loads(cookie)
    assert interface.get_signing_serializer(app).loads(
        interface.get_signing_serializer(app).dumps({"a": 1})) == {"a": 1}
