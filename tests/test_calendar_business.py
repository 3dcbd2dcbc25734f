"""Business calendars: working hours, weekends, public holidays and make-up working days
(pre-filled from chinese_calendar, editable by staff), a year without data flagged."""

from __future__ import annotations

from datetime import date

import pytest

from portal.extensions import db
from portal.queues import calendars
from portal.queues.calendars import CalendarError, WorkCalendar
from tests.test_queues_support import at

HOURS = {str(d): [["09:00", "18:00"]] for d in range(5)}


@pytest.fixture
def cal():
    """Mon-Fri 09:00-18:00 Shanghai with the package's 2026 days."""
    exceptions = {d: kind for d, (kind, _n) in calendars.package_days(2026).items()}
    return WorkCalendar.from_json(HOURS, exceptions)


@pytest.mark.parametrize("start,minutes,due", [
    ("2026-03-06 16:00", 480, "2026-03-09 15:00"),  # Friday -> weekend -> Monday
    ("2026-03-07 11:00", 60, "2026-03-09 10:00"),  # filed on a Saturday
    ("2026-03-09 07:30", 30, "2026-03-09 09:30"),  # before opening
    ("2026-03-09 18:30", 30, "2026-03-10 09:30"),  # after closing
    ("2026-09-30 17:00", 240, "2026-10-08 12:00"),  # National Day holiday
    ("2026-10-09 17:00", 240, "2026-10-10 12:00"),  # Saturday 10 Oct is a make-up day
    ("2026-09-19 10:00", 60, "2026-09-20 10:00"),  # Sunday 20 Sep is a make-up day
    ("2026-02-13 17:00", 120, "2026-02-14 10:00"),  # Spring Festival make-up Saturday
    ("2026-02-14 17:00", 120, "2026-02-24 10:00"),  # then the whole Spring Festival break
])
def test_add_business_hand_computed(cal, start, minutes, due):
    assert cal.add_business(at(start), minutes * 60) == at(due)


def test_business_seconds_is_the_inverse(cal):
    assert cal.business_seconds(at("2026-09-30 17:00"), at("2026-10-08 12:00")) == 4 * 3600
    assert cal.business_seconds(at("2026-03-06 16:00"), at("2026-03-09 15:00")) == 8 * 3600
    assert cal.business_seconds(at("2026-03-09 15:00"), at("2026-03-06 16:00")) == -8 * 3600


def test_a_used_calendar_answers_as_a_new_one(cal):
    """Working intervals are kept per day once computed: the answers stay those of a
    calendar that has computed nothing yet, whatever was asked before."""
    starts = [at(f"2026-{m:02d}-{d:02d} {h:02d}:15") for m in (2, 9, 10)
              for d in (1, 13, 28) for h in (3, 10, 17)]
    asked = [(start, minutes) for start in starts for minutes in (30, 480, 4320)]
    first = [cal.add_business(start, minutes * 60) for start, minutes in asked]
    again = [cal.add_business(start, minutes * 60) for start, minutes in reversed(asked)]
    exceptions = {d: kind for d, (kind, _n) in calendars.package_days(2026).items()}
    fresh = [WorkCalendar.from_json(HOURS, exceptions).add_business(start, minutes * 60)
             for start, minutes in asked]
    assert first == fresh == list(reversed(again))


def test_round_the_clock_calendar_and_other_zone():
    always = WorkCalendar.from_json({str(d): [["00:00", "24:00"]] for d in range(7)})
    assert always.add_business(at("2026-10-01 10:00"), 8 * 3600) == at("2026-10-01 18:00")
    london = WorkCalendar.from_json(HOURS, timezone="Europe/London")
    # 09:00 London in March (GMT) is 17:00 Shanghai
    assert london.add_business(at("2026-03-09 12:00"), 3600) == at("2026-03-09 18:00")


def test_bad_calendars_are_refused():
    with pytest.raises(CalendarError):
        WorkCalendar.from_json({"0": [["18:00", "09:00"]]})
    with pytest.raises(CalendarError):
        WorkCalendar.from_json(HOURS, timezone="Mars/Olympus")
    with pytest.raises(CalendarError):
        WorkCalendar.from_json({}).add_business(at("2026-03-09 10:00"), 60)
    with pytest.raises(CalendarError):
        calendars.parse_hours("Funday 09:00-10:00")
    assert calendars.parse_hours("Mon 09:00-12:00, 13:00-18:00\nsat 10:00-14:00") == {
        "0": [["09:00", "12:00"], ["13:00", "18:00"]], "1": [], "2": [], "3": [], "4": [],
        "5": [["10:00", "14:00"]], "6": []}


def test_prefill_staff_edits_and_missing_year(app_ctx):
    calendar = calendars.create_calendar("Mainland", HOURS, years=[2026, 2027])
    db.session.commit()
    loaded = calendars.load(calendar)
    assert not loaded.is_working_day(date(2026, 10, 1))
    assert loaded.is_working_day(date(2026, 10, 10))
    # 2027 is unknown to the package: flagged
    assert ("Mainland", 2027) in calendars.missing_years(date(2026, 12, 1))
    # a supervisor enters the new year's schedule and corrects a day
    calendars.set_day(calendar, date(2027, 1, 1), "holiday", "New Year")
    calendars.set_day(calendar, date(2026, 3, 9), "holiday", "Company day")
    db.session.commit()
    assert ("Mainland", 2027) not in calendars.missing_years(date(2026, 12, 1))
    loaded = calendars.load(calendar)
    assert loaded.add_business(at("2026-03-06 16:00"), 8 * 3600) == at("2026-03-10 15:00")
    # pre-filling again never overwrites a staff row
    calendars.prefill(calendar, [2026])
    calendars.remove_day(calendar, date(2026, 10, 10))
    db.session.commit()
    loaded = calendars.load(calendar)
    assert not loaded.is_working_day(date(2026, 10, 10))
    assert not loaded.is_working_day(date(2026, 3, 9))


def test_calendar_pages(client, login_as, app):
    login_as(client, "supervisor")
    page = client.post("/staff/calendars", data={"name": "Hong Kong", "timezone": "Asia/Hong_Kong",
                                                 "hours": "Mon 09:00-18:00\nSat 09:00-13:00"})
    assert page.status_code == 303
    url = page.headers["Location"]
    assert client.get(url).status_code == 200
    assert client.post(url, data={"action": "day", "day-day": "2026-12-24", "day-kind": "holiday",
                                  "day-name": "Christmas Eve"}).status_code == 303
    assert "2026-12-24" in client.get(url).get_data(as_text=True)
    assert client.post(url, data={"action": "remove", "day": "not-a-date"}).status_code == 400
    assert client.post(url, data={"action": "day", "day-day": "xx"}).status_code == 422
    bad = client.post("/staff/calendars", data={"name": "X", "timezone": "Nowhere/None",
                                                "hours": "Mon 09:00-18:00"})
    assert bad.status_code == 303
    with app.app_context():
        from portal.staff.models import AuditEntry

        assert db.session.query(AuditEntry).filter_by(
            action="queue.calendar_day_set").count() == 1


def test_missing_year_flagged_on_the_dashboard(app, client, login_as):
    login_as(client, "supervisor")
    with app.app_context():
        calendars.create_calendar("Mainland", HOURS, years=[2026])
        db.session.commit()
    from portal.db import utcnow

    page = client.get("/staff/?lang=en").get_data(as_text=True)
    if utcnow().year + 1 > 2026:
        assert "has no holiday data for" in page
