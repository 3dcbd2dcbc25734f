"""The page cache shared through Redis by two app processes: a publish in one process
invalidates the pages the other one serves, at once."""

from __future__ import annotations

import os
import secrets

import pytest
from conftest import service_unavailable
from test_incidents_support import EN_TITLE, declare

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as error:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {error}")
    yield REDIS_URL
    client.close()


def _two_apps(make_app, redis_url):
    prefix = "test:pages:" + secrets.token_hex(4)  # this test's own keys
    settings = {"PUBLIC_PAGE_CACHE_REDIS_URL": redis_url, "PUBLIC_PAGE_CACHE_PREFIX": prefix,
                "PASSWORD_HASH_FAST": True}
    return make_app(**settings), make_app(**settings), prefix


def _generation(app) -> int:
    from portal.incidents.cache import get_cache

    return get_cache(app)._generation


def _wait_for_generation(app, wanted: int, seconds: float = 2.0) -> None:
    import time

    from portal.incidents.cache import get_cache

    deadline = time.monotonic() + seconds
    while get_cache(app).generation() < wanted:
        assert time.monotonic() < deadline, "the bump never reached the other process"
        time.sleep(0.005)


def _commander(app):
    from test_staff_support import make_staff

    make_staff(app, "commander")


def test_publish_in_one_process_invalidates_the_other(app, make_app, redis_url):
    import redis

    first, second, prefix = _two_apps(make_app, redis_url)
    _commander(first)
    ref = declare(first, publish=True)
    reader_a, reader_b = first.test_client(), second.test_client()
    page = reader_b.get(f"/incidents/{ref}?lang=en")
    etag = page.headers["ETag"]
    assert reader_a.get(f"/incidents/{ref}?lang=en").headers["ETag"] == etag
    assert redis.Redis.from_url(redis_url).keys(f"{prefix}:*:incident/{ref}*")  # shared
    # Process A publishes an update through the staff pages.
    from test_staff_support import login

    staff = first.test_client()
    login(staff, "commander@example.com")
    staff.post(f"/staff/incidents/{ref}/updates/new",
               data={"state": "identified", "body_zh_hans": "进展", "body_en": "Hub reopened",
                     "notify": ""})
    from test_incidents_support import get_incident

    draft = next(u for u in get_incident(first, ref).updates if u.status == "draft")
    assert staff.post(f"/staff/incidents/{ref}/updates/{draft.id}/publish").status_code == 302
    # Process B learns the new generation through Redis pub/sub within milliseconds (no
    # TTL wait); then the old ETag no longer matches.
    _wait_for_generation(second, _generation(first))
    fresh = reader_b.get(f"/incidents/{ref}?lang=en", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert "Hub reopened" in fresh.get_data(as_text=True)
    assert "Hub reopened" in reader_b.get("/feed.atom?lang=en").get_data(as_text=True)


def test_a_page_rendered_by_one_process_is_served_by_the_other(app, make_app, redis_url):
    from portal.extensions import db
    from portal.incidents import queries

    first, second, _prefix = _two_apps(make_app, redis_url)
    _commander(first)
    ref = declare(first, publish=True)
    assert EN_TITLE in first.test_client().get(f"/incidents/{ref}?lang=en").get_data(
        as_text=True)
    with first.app_context():  # changed without the services: no invalidation
        queries.find(ref).title = {"zh_Hans": "改", "en": "Not yet visible"}
        db.session.commit()
    html = second.test_client().get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert EN_TITLE in html  # second process never rendered it: it came from Redis


def test_rollback_does_not_invalidate(app, make_app, redis_url):
    from portal.extensions import db
    from portal.incidents import queries, services
    from portal.incidents.cache import get_cache
    from portal.staff.models import StaffUser

    first, _second, _prefix = _two_apps(make_app, redis_url)
    _commander(first)
    ref = declare(first, publish=True)
    with first.app_context():
        before = get_cache().generation()
        actor = db.session.query(StaffUser).one()
        services.resolve(actor, queries.find(ref))
        db.session.rollback()
        assert get_cache().generation() == before
        services.resolve(actor, queries.find(ref))
        db.session.commit()
        assert get_cache().generation() == before + 1


def test_generation_is_read_from_redis_until_the_listener_follows(redis_url):
    from portal.incidents.cache import PageCache

    prefix = "test:pages:" + secrets.token_hex(4)
    writer = PageCache(redis_url, prefix=prefix)
    reader = PageCache(redis_url, prefix=prefix)
    reader._ensure_listener = lambda: None  # never subscribed: the fallback path
    writer._ensure_listener = lambda: None
    assert reader.generation() == 0
    with_app = writer.bump
    assert with_app() == 1
    assert reader.generation() == 1  # read straight from Redis, no delay


def test_a_following_process_learns_every_bump(redis_url):
    import time

    from portal.incidents.cache import Page, PageCache

    prefix = "test:pages:" + secrets.token_hex(4)
    writer = PageCache(redis_url, prefix=prefix)
    reader = PageCache(redis_url, prefix=prefix)
    reader.generation()
    deadline = time.monotonic() + 2
    while not reader._following:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    reader.set(0, "home", Page.build(b"old", "text/html"))
    assert reader.get(reader.generation(), "home").body == b"old"
    writer._ensure_listener = lambda: None
    writer.bump()
    deadline = time.monotonic() + 2
    while reader.generation() != 1:
        assert time.monotonic() < deadline, "pub/sub message not received"
        time.sleep(0.005)
    assert reader.get(reader.generation(), "home") is None
