"""Rate limits: translated 429, JSON for the API, real client behind proxies, Redis."""

from __future__ import annotations

import pytest
from conftest import service_unavailable
from flask import Blueprint, Flask, jsonify, render_template
from flask_babel import Babel

from portal.limits import (
    exempt_from_limits,
    get_limiter,
    hit,
    init_limits,
    rate_limit,
)

REDIS_URI = "redis://127.0.0.1:6379/14"


PROBE = "/limit-probe"
API_PROBE = "/api/limit-probe"


def limited_app(make_app, limit="3 per minute", **overrides):
    """A portal app with a low default limit and two plain routes of its own.

    The routes are added after ``create_app`` (before the first request): default limits
    apply to every route that is not exempt, so these stay limited whatever the feature
    blueprints decide for their own pages.
    """
    app = make_app(**{"RATELIMIT_ENABLED": True, "RATELIMIT_DEFAULT": limit, **overrides})
    probe = Blueprint("limit_probe", __name__)

    @probe.get(PROBE)
    def page():
        return render_template("base.html")

    @probe.get(API_PROBE)
    def api():
        return jsonify(ok=True)

    app.register_blueprint(probe)
    return app


def test_fourth_request_gets_translated_429_with_retry_after(make_app):
    client = limited_app(make_app).test_client()
    assert [client.get(PROBE + "?lang=en").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(PROBE + "?lang=en")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Too many requests" in html
    assert "Traceback" not in html


def test_429_page_is_in_simplified_chinese_by_default(make_app):
    client = limited_app(make_app).test_client()
    for _ in range(3):
        client.get(PROBE)
    response = client.get(PROBE)
    assert response.status_code == 429
    assert '<html lang="zh-Hans">' in response.get_data(as_text=True)
    traditional = client.get(PROBE, headers={"Accept-Language": "zh-TW"})
    assert traditional.status_code == 429
    assert '<html lang="zh-Hant">' in traditional.get_data(as_text=True)


def test_429_is_json_on_api_paths(make_app):
    client = limited_app(make_app, limit="2 per minute").test_client()
    for _ in range(2):
        assert client.get(API_PROBE).status_code != 429
    response = client.get(API_PROBE)
    assert response.status_code == 429
    assert response.is_json
    assert response.json["error"]["status"] == 429
    assert "Retry-After" in response.headers


def test_disabled_limits_never_refuse(make_app):
    app = limited_app(make_app, limit="1 per minute", RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert all(client.get(PROBE).status_code == 200 for _ in range(4))


def test_trusted_proxy_gives_each_client_its_own_counter(make_app):
    client = limited_app(make_app, limit="2 per minute", TRUSTED_PROXIES=1).test_client()
    alice = {"X-Forwarded-For": "203.0.113.10"}
    bob = {"X-Forwarded-For": "203.0.113.20"}
    assert [client.get(PROBE, headers=alice).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(PROBE, headers=bob).status_code == 200
    # Only the last hop is trusted: a client prepending a fake address changes nothing.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.10"}
    assert client.get(PROBE, headers=spoofed).status_code == 429


def test_untrusted_forwarded_header_is_ignored(make_app):
    client = limited_app(make_app, limit="2 per minute", TRUSTED_PROXIES=0).test_client()
    assert client.get(PROBE, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    assert client.get(PROBE, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200
    # A new made-up address does not buy a new counter.
    assert client.get(PROBE, headers={"X-Forwarded-For": "203.0.113.3"}).status_code == 429


def test_limit_declared_on_a_portal_view_applies(make_app):
    """The staff sign-in form is marked ``@rate_limit("RATELIMIT_LOGIN", methods=["POST"])``."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    form = {"email": "nobody@example.com", "password": "wrong-password"}
    statuses = [client.post("/staff/login?lang=en", data=form).status_code for _ in range(3)]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    assert client.get("/staff/login").status_code == 200  # reading the form stays free


def test_hit_counts_per_identifier(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SMS_TEST="2 per hour")
    with app.app_context():
        assert hit("RATELIMIT_SMS_TEST", "phone", "+8613800000001")
        assert hit("RATELIMIT_SMS_TEST", "phone", "+8613800000001")
        assert not hit("RATELIMIT_SMS_TEST", "phone", "+8613800000001")
        assert hit("RATELIMIT_SMS_TEST", "phone", "+8613800000002")
        # Another limit key with the same identifier has its own counter.
        app.config["RATELIMIT_OTHER_TEST"] = "1 per hour"
        assert hit("RATELIMIT_OTHER_TEST", "phone", "+8613800000001")


def test_hit_always_allows_when_disabled(make_app):
    app = make_app(RATELIMIT_ENABLED=False, RATELIMIT_SMS_TEST="1 per hour")
    with app.app_context():
        assert all(hit("RATELIMIT_SMS_TEST", "phone", "+861") for _ in range(3))


def bare_app(**config) -> Flask:
    """A minimal Flask app (no portal blueprints) to check ``init_limits`` on marked views."""
    app = Flask(__name__)
    app.config.update({
        "RATELIMIT_ENABLED": True, "RATELIMIT_DEFAULT": "", "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_FORM": "2 per minute", "TRUSTED_PROXIES": 0, **config,
    })
    Babel(app)

    @app.route("/form", methods=["GET", "POST"])
    @rate_limit("RATELIMIT_FORM", methods=["POST"])
    def form():
        return "form"

    @app.get("/free")
    def free():
        return "free"

    @app.get("/probe")
    @exempt_from_limits
    def probe():
        return "probe"

    init_limits(app)
    return app


def test_init_limits_applies_marked_view_limit_from_config():
    app = bare_app()
    client = app.test_client()
    assert [client.post("/form").status_code for _ in range(3)] == [200, 200, 429]
    # The limit is for POST only: reading the form stays free.
    assert all(client.get("/form").status_code == 200 for _ in range(5))
    assert all(client.get("/free").status_code == 200 for _ in range(5))


def test_marked_limit_is_read_from_config_at_request_time():
    app = bare_app()
    client = app.test_client()
    app.config["RATELIMIT_FORM"] = "1 per minute"
    assert [client.post("/form").status_code for _ in range(2)] == [200, 429]


def test_exempt_view_ignores_default_limit():
    app = bare_app(RATELIMIT_DEFAULT="1 per minute")
    client = app.test_client()
    assert [client.get("/free").status_code for _ in range(2)] == [200, 429]
    assert all(client.get("/probe").status_code == 200 for _ in range(4))


def test_each_app_has_its_own_limiter(make_app):
    first = limited_app(make_app, limit="1 per minute")
    second = limited_app(make_app, limit="1 per minute")
    assert get_limiter(first) is not get_limiter(second)
    assert first.test_client().get(PROBE).status_code == 200
    assert first.test_client().get(PROBE).status_code == 429
    assert second.test_client().get(PROBE).status_code == 200  # memory storage: not shared


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS_URI)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as error:
        service_unavailable(f"Redis unreachable at {REDIS_URI}: {error}")
    yield client
    client.flushdb()
    client.close()


@pytest.mark.redis
def test_redis_storage_shares_counts_between_processes(make_app, redis_db):
    web1 = limited_app(make_app, RATELIMIT_STORAGE_URI=REDIS_URI)
    web2 = limited_app(make_app, RATELIMIT_STORAGE_URI=REDIS_URI)
    assert web1.test_client().get(PROBE).status_code == 200
    assert web2.test_client().get(PROBE).status_code == 200
    assert web1.test_client().get(PROBE).status_code == 200
    assert web2.test_client().get(PROBE).status_code == 429
    assert web1.test_client().get(PROBE).status_code == 429
    assert redis_db.dbsize() > 0


@pytest.mark.redis
def test_redis_storage_shares_hit_counters(make_app, redis_db):
    web1 = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URI,
                    RATELIMIT_SMS_TEST="2 per hour")
    web2 = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URI,
                    RATELIMIT_SMS_TEST="2 per hour")
    with web1.app_context():
        assert hit("RATELIMIT_SMS_TEST", "phone", "+8613800000009")
    with web2.app_context():
        assert hit("RATELIMIT_SMS_TEST", "phone", "+8613800000009")
        assert not hit("RATELIMIT_SMS_TEST", "phone", "+8613800000009")
