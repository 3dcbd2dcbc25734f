"""Atom feeds: the whole site and one incident, parsed as XML."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from test_incidents_support import EN_TITLE, declare
from test_staff_support import make_staff

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def _staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    make_staff(app, "commander")


def _parse(response):
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    return ET.fromstring(response.get_data())  # noqa: S314 - our own feed


def _withdraw_first(app, ref):
    from portal.content import make_translated
    from portal.extensions import db
    from portal.incidents import queries, services
    from portal.staff.models import StaffUser

    with app.app_context():
        actor = db.session.query(StaffUser).one()
        update = queries.find(ref).updates[0]
        services.withdraw_update(actor, update, reason=make_translated("错误", "", "Wrong"))
        db.session.commit()


def test_site_feed_lists_public_updates_only(app, client):
    public = declare(app, publish=True)
    draft = declare(app, title=("草稿", "Draft"))
    drill = declare(app, drill=True, title=("演练", "Drill"))
    root = _parse(client.get("/feed.atom?lang=en"))
    assert root.tag == f"{ATOM}feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1
    entry = entries[0]
    assert entry.find(f"{ATOM}title").text.startswith(EN_TITLE)
    link = entry.find(f"{ATOM}link").get("href")
    assert link == f"http://portal.test/incidents/{public}?lang=en"
    assert entry.find(f"{ATOM}id").text.endswith(f"/incidents/{public}#update-"
                                                  + entry.find(f"{ATOM}id").text.split("-")[-1])
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert "We are currently investigating this issue." in content.text
    text = client.get("/feed.atom").get_data(as_text=True)
    assert draft not in text and drill not in text


def test_incident_feed_in_chinese_and_withdrawn_entries(app, client):
    ref = declare(app, publish=True)
    _withdraw_first(app, ref)
    root = _parse(client.get(f"/incidents/{ref}/feed.atom?lang=zh_Hans"))
    assert root.find(f"{ATOM}title").text == "台风影响广东派送"
    self_link = next(link for link in root.findall(f"{ATOM}link") if link.get("rel") == "self")
    assert self_link.get("href") == f"http://portal.test/incidents/{ref}/feed.atom"
    entry = root.find(f"{ATOM}entry")
    assert "我们正在调查" not in entry.find(f"{ATOM}content").text
    assert entry.find(f"{ATOM}updated").text.endswith("Z")


def test_feeds_are_linked_from_the_pages(app, client):
    ref = declare(app, publish=True)
    home = client.get("/?lang=en").get_data(as_text=True)
    assert '<link rel="alternate" type="application/atom+xml"' in home
    assert 'href="/feed.atom?lang=en"' in home
    page = client.get(f"/incidents/{ref}?lang=en").get_data(as_text=True)
    assert f'href="/incidents/{ref}/feed.atom?lang=en"' in page


def test_feed_of_an_unknown_incident_is_404(client):
    assert client.get("/incidents/IN-2222-3333/feed.atom").status_code == 404
