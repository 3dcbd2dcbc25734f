"""The parcel look-up box sits on the home page and on every incident page (GET form)."""

import re

from test_incidents_support import declare


def _lookup_form(html: str) -> str:
    match = re.search(r'<form method="get" action="/parcels"[^>]*>(.*?)</form>', html, re.S)
    assert match, "no parcel look-up form on the page"
    return match.group(1)


def test_home_page_has_the_lookup_box(client):
    form = _lookup_form(client.get("/?lang=en").get_data(as_text=True))
    assert 'name="q"' in form and 'name="lang" value="en"' in form


def test_incident_page_has_the_lookup_box(app, client, staff_factory):
    staff_factory("commander")
    ref = declare(app, publish=True)
    response = client.get(f"/incidents/{ref}?lang=zh_Hant")
    assert 'name="lang" value="zh_Hant"' in _lookup_form(response.get_data(as_text=True))
    assert "Set-Cookie" not in response.headers  # still cacheable


def test_the_box_leads_to_answers(app, client):
    page = client.get("/parcels?q=SF1234567890123,bad!&lang=en")
    assert page.status_code == 200
    assert "SF1234567890123" in page.get_data(as_text=True)
