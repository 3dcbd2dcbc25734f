"""The public incident site: content, languages, sanitising, and surge behaviour (no
cookie, ETag/304, Vary, Cache-Control, the page cache and signed-in staff)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_incidents_support import EN_TITLE, ZH_TITLE, declare, get_incident
from test_staff_support import login, make_staff

from portal.db import utcnow


@pytest.fixture(autouse=True)
def _staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    make_staff(app, "commander")


def _publish_update(app, ref, body, state="identified"):
    from portal.extensions import db
    from portal.incidents import queries, services
    from portal.staff.models import StaffUser

    with app.app_context():
        actor = db.session.query(StaffUser).filter_by(role="commander").one()
        update = services.draft_update(actor, queries.find(ref), state=state, body=body)
        services.publish_update(actor, update)
        db.session.commit()


def _assert_cookie_free(response):
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.vary


# --- content -------------------------------------------------------------------------------

def test_home_says_all_normal_when_nothing_is_active(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "All services are running normally." in html
    assert "There are no current incidents." in html


def test_home_lists_active_most_severe_first_then_recent_resolved(app, client):
    minor = declare(app, publish=True, severity="minor", title=("小问题", "Minor thing"))
    critical = declare(app, publish=True, severity="critical", title=("大问题", "Big thing"))
    old = declare(app, publish=True, title=("旧事件", "Old thing"))
    recent = declare(app, publish=True, title=("已解决", "Recently fixed"))
    draft = declare(app, title=("草稿事件", "Draft thing"))
    from portal.extensions import db
    from portal.incidents import queries

    for ref, days in ((old, 40), (recent, 2)):
        _publish_update(app, ref, {"zh_Hans": "已解决", "en": "Fixed"}, state="resolved")
        with app.app_context():
            queries.find(ref).resolved_at = utcnow() - timedelta(days=days)
            db.session.commit()
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "All services are running normally." not in html
    assert "2 incidents are affecting deliveries." in html
    assert html.index(critical) < html.index(minor) < html.index(recent)
    assert old not in html and draft not in html


def test_area_filter(app, client):
    guangdong = declare(app, publish=True)
    hubei = declare(app, publish=True, title=("湖北", "Hubei"),
                    regions=(("湖北省武汉市", "Wuhan, Hubei"),))
    html = client.get("/?lang=en").get_data(as_text=True)
    assert '<option value="湖北省武汉市">Wuhan, Hubei</option>' in html
    filtered = client.get("/?lang=en&area=湖北省武汉市").get_data(as_text=True)
    assert hubei in filtered and guangdong not in filtered
    assert "Show all areas" in filtered


def test_incident_page_shows_summary_areas_recovery_and_timeline(app, client):
    ref = declare(app, publish=True)
    _publish_update(app, ref, {"zh_Hans": "分拨中心已恢复部分作业。", "zh_Hant": "",
                               "en": "The hub is partly working again."})
    html = client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert EN_TITLE in html and "The typhoon closed the Shenzhen hub" in html
    assert "Shenzhen, Guangdong" in html and "Shenzhen hub" in html
    assert "Expected recovery" in html and "Not yet known" in html
    assert html.index("The hub is partly working again.") < html.index(
        "We are currently investigating this issue.")  # newest first
    assert 'src="/static/js/relative-time.js"' in html
    assert "<time datetime=" in html and "data-relative" in html


def test_times_are_absolute_in_shanghai(app, client):
    from datetime import UTC, datetime

    from portal.extensions import db
    from portal.incidents import queries

    ref = declare(app, publish=True)
    with app.app_context():
        queries.find(ref).started_at = datetime(2026, 7, 1, 1, 30, tzinfo=UTC)
        db.session.commit()
    html = client.get(f"/incidents/{ref}?lang=zh_Hans").get_data(as_text=True)
    assert "2026年7月1日 09:30:00" in html
    assert 'datetime="2026-07-01T01:30:00Z"' in html


def test_unknown_and_draft_incidents_are_404(app, client):
    ref = declare(app)
    assert client.get(f"/incidents/{ref}").status_code == 404
    assert client.get("/incidents/IN-2222-3333").status_code == 404


def test_lower_case_reference_redirects_to_the_canonical_page(app, client):
    ref = declare(app, publish=True)
    response = client.get(f"/incidents/{ref.lower()}?lang=en")
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/incidents/{ref}?lang=en")


def test_script_in_an_update_is_shown_as_text(app, client):
    ref = declare(app, publish=True)
    _publish_update(app, ref, {"zh_Hans": "注意 <script>alert('x')</script> **加粗**",
                               "en": "[click](javascript:alert(1)) <img src=x onerror=alert(1)>"})
    zh = client.get(f"/incidents/{ref}?lang=zh_Hans").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in zh or \
        "&lt;script&gt;alert('x')&lt;/script&gt;" in zh
    assert "<script>alert" not in zh
    assert "<strong>加粗</strong>" in zh
    en = client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert "javascript:" not in en and "<img" not in en
    assert "&lt;img src=x onerror=alert(1)&gt;" in en


# --- languages -----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "header", "lang", "expected"), [
    ("?lang=en", "zh-CN", "en", EN_TITLE),
    ("?lang=zh_Hans", "en", "zh-Hans", ZH_TITLE),
    ("?lang=zh_Hant", "en", "zh-Hant", "颱風影響廣東派送"),
    ("", "zh-TW,zh;q=0.9", "zh-Hant", "颱風影響廣東派送"),
    ("", "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans", ZH_TITLE),
    ("", "en-GB,en;q=0.9", "en", EN_TITLE),
    ("", "", "zh-Hans", ZH_TITLE),
])
def test_three_languages(app, query, header, lang, expected):
    client = app.test_client()  # sends no Accept-Language of its own
    ref = declare(app, publish=True)
    headers = {"Accept-Language": header} if header else {}
    response = client.get(f"/incidents/{ref}{query}", headers=headers)
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert expected in html
    assert "Accept-Language" in response.vary
    home = client.get(f"/{query}", headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}">' in home


def test_language_switcher_links_carry_lang(app, client):
    ref = declare(app, publish=True)
    html = client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert f'href="/incidents/{ref}?lang=zh_Hant"' in html
    assert f'href="/incidents/{ref}?lang=zh_Hans"' in html


def test_machine_converted_traditional_is_marked(app, client):
    ref = declare(app, publish=True)
    html = client.get(f"/incidents/{ref}?lang=zh_Hant").get_data(as_text=True)
    assert "颱風登陸" in html  # the summary, converted with OpenCC
    summary = html[html.index('id="summary-heading"'):]
    assert summary.index('class="fallback-note"') < summary.index("</section>")


# --- surge behaviour -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/?lang=en", "/incidents/{ref}", "/feed.atom",
                                  "/incidents/{ref}/feed.atom", "/api/v1/incidents",
                                  "/api/v1/incidents/{ref}", "/api/v1/openapi.json"])
def test_public_pages_set_no_cookie_and_carry_cache_headers(app, client, path):
    ref = declare(app, publish=True)
    response = client.get(path.format(ref=ref))
    assert response.status_code == 200
    _assert_cookie_free(response)
    assert response.headers["Cache-Control"] == "public, max-age=15"
    assert "Accept-Language" in response.vary
    assert response.headers["ETag"]


def test_max_age_is_configurable(app, client):
    app.config["PUBLIC_CACHE_MAX_AGE"] = 60
    assert client.get("/").headers["Cache-Control"] == "public, max-age=60"


def test_matching_if_none_match_gets_304(app, client):
    ref = declare(app, publish=True)
    first = client.get(f"/incidents/{ref}?lang=en")
    etag = first.headers["ETag"]
    again = client.get(f"/incidents/{ref}?lang=en", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    _assert_cookie_free(again)
    other = client.get(f"/incidents/{ref}?lang=zh_Hans", headers={"If-None-Match": etag})
    assert other.status_code == 200  # another language is another representation
    assert other.headers["ETag"] != etag


def test_publishing_invalidates_the_cached_page_at_once(app, client):
    ref = declare(app, publish=True)
    before = client.get(f"/incidents/{ref}?lang=en")
    _publish_update(app, ref, {"zh_Hans": "新进展", "en": "Fresh news"})
    after = client.get(f"/incidents/{ref}?lang=en", headers={"If-None-Match":
                                                               before.headers["ETag"]})
    assert after.status_code == 200 and "Fresh news" in after.get_data(as_text=True)
    assert ref in client.get("/?lang=en").get_data(as_text=True)


def test_pages_are_served_from_the_cache_until_something_is_published(app, client):
    from portal.extensions import db
    from portal.incidents import queries

    ref = declare(app, publish=True)
    assert EN_TITLE in client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    with app.app_context():  # a change that bypasses the services: not invalidated
        queries.find(ref).title = {"zh_Hans": "改", "en": "Changed behind our back"}
        db.session.commit()
    assert EN_TITLE in client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)


def test_signed_in_staff_never_get_or_fill_a_cache_entry(app):
    ref = declare(app, publish=True)
    staff = app.test_client()
    login(staff, "commander@example.com")
    from portal.extensions import db
    from portal.incidents import queries

    first = staff.get(f"/incidents/{ref}?lang=en")
    assert first.headers["Cache-Control"] == "private, no-store"
    with app.app_context():
        queries.find(ref).title = {"zh_Hans": "改", "en": "Only staff saw the old one"}
        db.session.commit()
    # The staff render did not fill the cache: the public reader gets the current data.
    public = app.test_client().get(f"/incidents/{ref}?lang=en")
    assert "Only staff saw the old one" in public.get_data(as_text=True)
    assert public.headers["Cache-Control"] == "public, max-age=15"
    # ...and staff do not get the public entry either.
    with app.app_context():
        queries.find(ref).title = {"zh_Hans": "再改", "en": "Staff see this at once"}
        db.session.commit()
    assert "Staff see this at once" in staff.get(
        f"/incidents/{ref}?lang=en").get_data(as_text=True)


def test_cached_pages_never_show_flashed_messages(app):
    ref = declare(app, publish=True)
    reader = app.test_client()
    with reader.session_transaction() as session:
        session["_flashes"] = [("message", "PRIVATE-FLASH")]
    html = reader.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert "PRIVATE-FLASH" not in html


# --- subscribing ---------------------------------------------------------------------------

def test_subscribe_page_sends_a_confirmation_and_only_it_sets_a_cookie(app, make_app):
    from test_incidents_support import outbox

    ref = declare(app, publish=True)
    csrf_app = make_app(WTF_CSRF_ENABLED=True)
    client = csrf_app.test_client()
    page = client.get(f"/incidents/{ref}/subscribe?lang=en")
    assert page.status_code == 200 and "Set-Cookie" in page.headers
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    assert client.post(f"/incidents/{ref}/subscribe?lang=en",
                       data={"email": "reader@example.com"}).status_code == 400  # no CSRF
    done = client.post(f"/incidents/{ref}/subscribe?lang=en",
                       data={"email": "reader@example.com", "csrf_token": token})
    assert done.status_code == 200 and "Check your email" in done.get_data(as_text=True)
    rows = outbox(app, "subscription_confirm")
    assert [r.recipient for r in rows] == ["reader@example.com"]
    # The incident page itself links to the form instead of embedding it.
    html = app.test_client().get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert f'href="/incidents/{ref}/subscribe?lang=en"' in html and "csrf_token" not in html


def test_subscribe_rejects_a_bad_address(app, client):
    ref = declare(app, publish=True)
    response = client.post(f"/incidents/{ref}/subscribe?lang=en", data={"email": "nope"})
    assert response.status_code == 200
    assert "Please enter a valid email address." in response.get_data(as_text=True)


def test_subscribe_is_rate_limited(app, make_app):
    ref = declare(app, publish=True)
    limited = make_app(RATELIMIT_INCIDENT_SUBSCRIBE="2 per hour").test_client()
    codes = [limited.post(f"/incidents/{ref}/subscribe",
                          data={"email": f"r{i}@example.com"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert limited.get(f"/incidents/{ref}/subscribe").status_code == 200  # reading is free


def test_resolved_incidents_take_no_new_subscriptions(app, client):
    ref = declare(app, publish=True)
    _publish_update(app, ref, {"zh_Hans": "已解决", "en": "Done"}, state="resolved")
    assert get_incident(app, ref).state == "resolved"
    assert client.get(f"/incidents/{ref}/subscribe").status_code == 404


def test_home_lists_at_most_the_configured_number_of_resolved(app, client):
    app.config["INCIDENT_HOME_RESOLVED_LIMIT"] = 1
    first = declare(app, publish=True, title=("一", "First"))
    second = declare(app, publish=True, title=("二", "Second"))
    for ref in (first, second):
        _publish_update(app, ref, {"zh_Hans": "已解决", "en": "Fixed"}, state="resolved")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert second in html and first not in html
    assert "Showing the 1 most recent of 2 resolved incidents" in html
