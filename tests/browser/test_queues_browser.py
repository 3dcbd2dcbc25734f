"""In Chromium: an agent takes the next case from the queue, replies and resolves it; the
customer opens the status page with the reference and the last 4 digits and reads the
reply. Screenshots of the queue page and the case page go to the printed folder;
axe-core finds no serious or critical violations on the queue page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from portal.extensions import db
from portal.staff.models import StaffUser
from tests.test_queues_support import at, new_case, queue, rule

pytestmark = pytest.mark.browser
REPLY = "We have refunded the freight of your parcel."


def _seed(app, staff_factory) -> list[str]:
    staff_factory("agent", "agent@example.com")
    with app.app_context():
        agent = db.session.query(StaffUser).filter_by(email="agent@example.com").one()
        queue("general", fallback=True, members=[agent])
        queue("complaints", members=[agent])
        rule("Complaints", {"kind": ["complaint"]}, {"queue": "complaints"})
        db.session.commit()
        first = at("2026-03-09 09:00")
        refs = [new_case(now=first + timedelta(minutes=i), phone=f"+86138001380{i:02d}",
                         text=text).reference
                for i, text in enumerate(["My parcel is five days late.",
                                          "包裹晚了三天，请尽快处理。",
                                          "I will call my lawyer if nobody answers."])]
        db.session.commit()
    return refs


def _shot(page, screenshot_dir, name: str) -> None:
    shot = screenshot_dir / name
    page.screenshot(path=str(shot), full_page=True)


def test_agent_takes_next_replies_resolves_and_customer_reads(app, browser, live_server,
                                                              staff_factory, screenshot_dir):
    refs = _seed(app, staff_factory)
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/staff/login?lang=en")
    page.get_by_label("Email").fill("agent@example.com")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/staff/queues/general?lang=en")
    assert page.locator(".queue-table tbody tr").count() == 3
    _shot(page, screenshot_dir, "queues-queue.png")
    page.get_by_role("button", name="Take next").first.click()
    # the lawyer mention made the third case the most urgent one
    assert page.url.endswith(f"/staff/cases/{refs[2]}")
    page.goto(f"{page.url}?lang=en")
    assert "lawyer" in page.locator(".tag").all_inner_texts()
    assert "*******8002" in page.content()
    page.locator("#reply textarea[name=body]").fill(REPLY)
    page.locator("#reply button[type=submit]").click()
    page.goto(f"{live_server}/staff/cases/{refs[2]}?lang=en")
    page.locator("select[name=state]").select_option("resolved")
    page.get_by_role("button", name="Change state").click()
    page.goto(f"{live_server}/staff/cases/{refs[2]}?lang=en")
    assert "Resolved" in page.locator(".case-state").inner_text()
    assert REPLY in page.locator(".conversation").inner_text()
    _shot(page, screenshot_dir, "queues-case.png")
    context.close()

    customer = browser.new_context(locale="en-US").new_page()
    customer.goto(f"{live_server}/claims/{refs[2]}?lang=en")
    customer.get_by_label("Last 4 digits of your phone number").fill("8002")
    customer.get_by_role("button", name="Open my case").click()
    assert REPLY in customer.content()
    customer.context.close()

    staff = browser.new_context(locale="en-US")
    staff_page = staff.new_page()
    staff_page.goto(f"{live_server}/staff/login?lang=en")
    staff_page.get_by_label("Email").fill("agent@example.com")
    staff_page.get_by_label("Password").fill("correct horse battery staple")
    staff_page.get_by_role("button", name="Sign in").click()
    cookies = staff.cookies()
    staff.close()
    checker = browser.new_context(bypass_csp=True)
    checker.add_cookies(cookies)
    page = checker.new_page()
    page.goto(f"{live_server}/staff/queues/general?lang=en")
    page.add_script_tag(path=str(Path(__file__).resolve().parents[2] / "node_modules"
                                 / "axe-core" / "axe.min.js"))
    violations = [v for v in page.evaluate("axe.run().then(r => r.violations)")
                  if v.get("impact") in ("serious", "critical")]
    checker.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]
