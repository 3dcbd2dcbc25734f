"""In Chromium: a customer pastes three numbers (affected, not listed, malformed) into the
look-up and reads one answer per number; axe-core finds no serious or critical violations
on the look-up page. The screenshot goes to the printed folder."""

from __future__ import annotations

import pytest
from conftest import axe_violations
from test_parcels_support import S10, SF, csv_bytes, import_file, make_incident

pytestmark = pytest.mark.browser


def test_paste_three_numbers_and_read_the_answers(app, browser, live_server, screenshot_dir,
                                                  tmp_path):
    app.config["PARCEL_IMPORT_FOLDER"] = str(tmp_path / "imports")
    ref = make_incident(app)
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([[SF, "delayed", "2026-03-05"]],
                               ["运单号", "状态", "新预计送达日期"]))
    import_file(app, ref, path)

    context = browser.new_context(locale="en-US", viewport={"width": 800, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/parcels?lang=en")
    page.get_by_label("Tracking numbers").fill(
        f"sf 7444-4000-48449\n{S10}, EA123456789CN")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector(".parcel-results")
    lines = page.locator(".parcel-line")
    assert lines.count() == 3
    affected = page.locator(f'.parcel-affected[data-number="{SF}"]').inner_text()
    assert "Fire at the Shenzhen hub" in affected and "Delayed" in affected
    assert "March 5, 2026" in affected or "Mar 5, 2026" in affected
    assert "Start a claim" in affected
    assert "Not listed" in page.locator(f'.parcel-not_listed[data-number="{S10}"]').inner_text()
    assert "Not a valid tracking number" in page.locator(".parcel-malformed").inner_text()
    assert "q=" in page.url  # a GET form: the answer can be bookmarked
    shot = screenshot_dir / "parcels-lookup.png"
    page.screenshot(path=str(shot), full_page=True)
    # The incident link leads to the bulletin.
    page.locator(".parcel-affected a", has_text="Fire at the Shenzhen hub").click()
    assert f"/incidents/{ref}" in page.url
    context.close()

    violations = axe_violations(browser, page.url.split("/incidents")[0]
                                + f"/parcels?lang=en&q={SF}%0A{S10}%0Abad")
    assert violations == [], [(v["id"], v["help"]) for v in violations]
