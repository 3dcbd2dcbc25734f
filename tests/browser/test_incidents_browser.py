"""In Chromium: a responder drafts, a commander publishes, a customer reads the incident in
Chinese and in English (also at 320 px, by keyboard, without JavaScript); axe-core finds no
serious or critical violations. Screenshots go to the printed folder."""

from __future__ import annotations

import re

import pytest
from conftest import axe_violations
from test_incidents_support import declare
from test_staff_support import PASSWORD, make_staff

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(app):
    app.config["PASSWORD_HASH_FAST"] = True
    make_staff(app, "commander", name="Commander Chen")
    make_staff(app, "responder", name="Responder Li")


def _sign_in(page, base, email):
    page.goto(f"{base}/staff/login?lang=en")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r".*/staff/.*"))


def test_responder_drafts_commander_publishes_customer_reads(app, staff, browser,
                                                             live_server, screenshot_dir):
    ref = declare(app)
    # The commander publishes the declared incident.
    commander = browser.new_context(locale="en-US")
    page = commander.new_page()
    _sign_in(page, live_server, "commander@example.com")
    page.goto(f"{live_server}/staff/incidents/{ref}?lang=en")
    page.get_by_role("button", name="Publish incident").click()
    page.wait_for_selector("text=Published.")
    # A responder drafts an update; they have no publish button.
    responder = browser.new_context(locale="en-US")
    rpage = responder.new_page()
    _sign_in(rpage, live_server, "responder@example.com")
    rpage.goto(f"{live_server}/staff/incidents/{ref}/updates/new?state=identified&lang=en")
    rpage.fill("#body_zh_hans", "深圳分拨中心已恢复供电，**正在处理积压包裹**。")
    rpage.fill("#body_en", "Power is back at the Shenzhen hub; **we are clearing the backlog**.")
    rpage.get_by_role("button", name="Save draft").click()
    rpage.wait_for_selector("text=Update saved as a draft.")
    assert rpage.get_by_role("button", name="Publish update").count() == 0
    rpage.goto(f"{live_server}/staff/incidents/{ref}/preview?lang=en")
    assert "we are clearing the backlog" in rpage.inner_text("main")
    # The customer does not see the draft yet.
    customer = browser.new_context(locale="zh-CN", java_script_enabled=True)
    cpage = customer.new_page()
    cpage.goto(f"{live_server}/incidents/{ref}")
    assert "正在处理积压包裹" not in cpage.inner_text("main")
    # The commander publishes it.
    page.goto(f"{live_server}/staff/incidents/{ref}?lang=en")
    page.get_by_role("button", name="Publish update").click()
    page.wait_for_selector("text=Update published.")
    # The customer reads it in Chinese (browser language). Their browser may keep the old
    # page for max-age (15 s); a reload revalidates with If-None-Match and gets the new one.
    cpage.reload()
    assert cpage.get_attribute("html", "lang") == "zh-Hans"
    main = cpage.inner_text("main")
    assert "台风影响广东派送" in main and "正在处理积压包裹" in main
    assert cpage.locator(".update-body strong").first.inner_text() == "正在处理积压包裹"
    cpage.screenshot(path=str(screenshot_dir / "incident-zh-Hans.png"), full_page=True)
    # ... and switches to English with the language links.
    cpage.get_by_role("link", name="English").click()
    assert cpage.get_attribute("html", "lang") == "en"
    main = cpage.inner_text("main")
    assert "Typhoon delays deliveries in Guangdong" in main and "clearing the backlog" in main
    cpage.wait_for_selector(".relative-time")  # the small script added "x minutes ago"
    assert re.search(r"(ago|now|minute)", cpage.inner_text(".relative-time >> nth=0"))
    cpage.screenshot(path=str(screenshot_dir / "incident-en.png"), full_page=True)
    cpage.goto(f"{live_server}/?lang=en")
    assert ref in cpage.inner_text("main")
    cpage.screenshot(path=str(screenshot_dir / "home-en.png"), full_page=True)
    cpage.goto(f"{live_server}/?lang=zh_Hans")
    cpage.screenshot(path=str(screenshot_dir / "home-zh-Hans.png"), full_page=True)
    for context in (commander, responder, customer):
        context.close()


def test_phone_width_keyboard_and_no_javascript(app, staff, browser, live_server,
                                                 screenshot_dir):
    ref = declare(app, publish=True)
    context = browser.new_context(viewport={"width": 320, "height": 640},
                                  java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    for path in ("/", f"/incidents/{ref}", f"/incidents/{ref}/subscribe"):
        page.goto(f"{live_server}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{path} scrolls sideways at 320 px ({width})"
    page.goto(f"{live_server}/?lang=en")
    assert "Typhoon delays deliveries" in page.inner_text("main")  # no JS needed
    page.screenshot(path=str(screenshot_dir / "home-320px.png"), full_page=True)
    # Keyboard alone: the skip link first, then reach the incident and open it.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip().startswith("Typhoon"):
            break
    else:
        pytest.fail("the incident link cannot be reached by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/incidents/{ref}.*"))
    page.screenshot(path=str(screenshot_dir / "incident-320px.png"), full_page=True)
    # The area filter works without JavaScript (a plain GET form).
    page.goto(f"{live_server}/?lang=en")
    page.select_option("#area", "广东省深圳市")
    page.get_by_role("button", name="Filter").click()
    assert "area=" in page.url and ref in page.inner_text("main")
    context.close()


@pytest.mark.parametrize("lang", ["zh_Hans", "en"])
def test_no_serious_accessibility_violations(app, staff, browser, live_server, lang):
    ref = declare(app, publish=True)
    for path in (f"/?lang={lang}", f"/incidents/{ref}?lang={lang}",
                 f"/incidents/{ref}/subscribe?lang={lang}"):
        violations = axe_violations(browser, f"{live_server}{path}")
        assert violations == [], [(v["id"], v["help"]) for v in violations]


def test_staff_incident_pages_are_accessible(app, staff, browser, live_server):
    ref = declare(app, publish=True)
    context = browser.new_context(bypass_csp=True, locale="en-US")
    page = context.new_page()
    _sign_in(page, live_server, "commander@example.com")
    from conftest import AXE_SCRIPT

    for path in ("/staff/incidents/", f"/staff/incidents/{ref}", "/staff/incidents/new"):
        page.goto(f"{live_server}{path}?lang=en")
        page.add_script_tag(path=str(AXE_SCRIPT))
        violations = [v for v in page.evaluate("axe.run().then(r => r.violations)")
                      if v.get("impact") in ("serious", "critical")]
        assert violations == [], (path, [(v["id"], v["help"]) for v in violations])
    context.close()
