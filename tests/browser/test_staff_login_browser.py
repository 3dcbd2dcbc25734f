"""A staff member signs in and out in Chromium, through the real pages (CSRF on)."""

import pytest

pytestmark = pytest.mark.browser


def test_staff_member_signs_in_and_out(app, live_server, page, staff_factory, screenshot_dir):
    app.config["WTF_CSRF_ENABLED"] = True
    staff_factory("supervisor", "sup@example.com")

    page.goto(f"{live_server}/staff/?lang=en")
    assert "/staff/login" in page.url  # anonymous visitors are sent to sign in

    page.get_by_label("Email").fill("sup@example.com")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.screenshot(path=str(screenshot_dir / "staff-login.png"), full_page=True)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server}/staff/**")
    assert page.locator("h1").first.is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    page.screenshot(path=str(screenshot_dir / "staff-dashboard.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{live_server}/staff/?lang=en")
    assert "/staff/login" in page.url  # the session really ended


def test_wrong_password_shows_a_message_and_keeps_the_visitor_out(app, live_server, page,
                                                                   staff_factory):
    app.config["WTF_CSRF_ENABLED"] = True
    staff_factory("agent", "agent@example.com")
    page.goto(f"{live_server}/staff/login?lang=en")
    page.get_by_label("Email").fill("agent@example.com")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert "/staff/login" in page.url


def test_sign_in_page_has_no_serious_accessibility_violations(live_server, browser):
    from conftest import axe_violations

    assert axe_violations(browser, f"{live_server}/staff/login?lang=en") == []
