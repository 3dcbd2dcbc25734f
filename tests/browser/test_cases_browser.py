"""In Chromium: from a parcel look-up result, a customer files a delay claim with a photo,
checks the policy estimate first, gets a reference, opens the status page and accepts the
offer staff made; axe-core finds no serious or critical violations on the form. A
screenshot of the form goes to the printed folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import axe_violations
from sqlalchemy import select
from test_parcels_support import SF, csv_bytes, import_file, make_incident

from portal.cases import lifecycle
from portal.cases.models import Case
from portal.extensions import db
from portal.staff.models import StaffUser

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "cases" / "photo_with_gps.jpg"


def test_claim_with_photo_from_lookup_then_accept_offer(app, browser, live_server,
                                                        screenshot_dir, staff_factory, tmp_path):
    app.config["PARCEL_IMPORT_FOLDER"] = str(tmp_path / "imports")
    app.config["CASES_EVIDENCE_FOLDER"] = str(tmp_path / "evidence")
    incident = make_incident(app)
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([[SF, "delayed", "2026-03-05"]],
                               ["运单号", "状态", "新预计送达日期"]))
    import_file(app, incident, path)

    context = browser.new_context(locale="en-US", viewport={"width": 900, "height": 1000})
    page = context.new_page()
    page.goto(f"{live_server}/parcels?lang=en&q={SF}")
    page.locator(f'.parcel-affected[data-number="{SF}"] a', has_text="Start a claim").click()
    page.wait_for_url(re.compile(r"/claims/new\?tracking="))
    assert page.get_by_label("Tracking number").input_value() == SF
    page.get_by_label("What happened?").select_option("delay")
    assert page.locator(".group-damage").is_hidden()  # the script hides what does not apply
    page.get_by_label("What happened, in your words").fill(
        "The parcel is five days late and the tracking has not moved.")
    page.get_by_label("Freight paid (yuan)").fill("23.50")
    page.get_by_label("Photos or documents").set_input_files(str(PHOTO))
    page.get_by_label("Your name").fill("Li Lei")
    page.get_by_label("Mobile phone").fill("138 0013 8000")
    page.get_by_label("Email (optional)").fill("li@example.com")
    page.get_by_label("I agree that my details").check()
    page.get_by_role("button", name="Check what the policy allows").click()
    estimate = page.locator(".estimate")
    estimate.wait_for()
    assert "¥23.50" in estimate.inner_text() and "estimate" in estimate.inner_text()
    assert "photo_with_gps.jpg" in page.locator(".kept-files").inner_text()
    shot = screenshot_dir / "claim-form.png"
    page.screenshot(path=str(shot), full_page=True)
    page.get_by_role("button", name="Send my case").click()
    page.wait_for_url(re.compile(r"/claims/CS-[A-Z0-9-]+/received"))
    reference = page.locator(".reference").inner_text().strip()
    assert re.fullmatch(r"CS-[A-Z0-9]{4}-[A-Z0-9]{4}", reference)
    screenshot_page = screenshot_dir / "claim-received.png"
    page.screenshot(path=str(screenshot_page), full_page=True)

    staff_id = staff_factory("agent", "agent@example.com")
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        assert case.incident_id is not None and len(case.evidence) == 1
        lifecycle.offer(case, 2350, db.session.get(StaffUser, staff_id), "freight refund")
        db.session.commit()

    page.get_by_role("link", name="See my case").click()
    page.wait_for_selector(".offer")
    assert "We offer you ¥23.50" in page.locator(".offer").inner_text()
    page.get_by_role("button", name="Accept the offer").click()
    page.wait_for_selector(".decision")
    assert "You accepted ¥23.50" in page.locator(".decision").inner_text()
    page.screenshot(path=str(screenshot_dir / "claim-status.png"), full_page=True)
    context.close()
    with app.app_context():
        assert db.session.scalar(select(Case.decision).where(
            Case.reference == reference)) == "accepted"

    violations = axe_violations(browser, f"{live_server}/claims/new?lang=en&tracking={SF}")
    assert violations == [], [(v["id"], v["help"], v["nodes"][:2]) for v in violations]
