"""Stencils: a message filled in from a stencil is the message Jinja renders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.cases.notices import _SLOTS
from portal.notifications import stencil
from portal.notifications.rendering import render

MESSAGES = [("email", "case_received"), ("sms", "case_received"),
            ("email", "case_appended"), ("sms", "case_appended")]
# What customers type: markup, quotes, ampersands, spaces, Chinese, percent signs.
TYPED = st.text(alphabet=st.sampled_from(list("李王 <>&\"'%/#a1\t")), min_size=1, max_size=12)


def _context(name, tracking, due, suggested, kind):
    return {"reference": "CS-7K3M-Q9TX", "kind": kind, "type": "delay", "state": "new",
            "tracking_number": tracking, "customer_name": name, "legal_due_at": due,
            "status_url": f"http://127.0.0.1/claims/CS-7K3M-Q9TX?t={name}&x=1",
            "status_path": "/claims/CS-7K3M-Q9TX", "suggested_fen": suggested,
            "offered_fen": None}


@pytest.mark.parametrize(("channel", "template"), MESSAGES)
@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant", "en"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=TYPED, tracking=st.sampled_from([None, "", "SF1234567890123", "<SF&1>"]),
       due=st.sampled_from([None, datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
                            datetime(2027, 2, 9, 23, 59, tzinfo=UTC)]),
       suggested=st.sampled_from([None, 0, 2350, 123456789]),
       kind=st.sampled_from(["claim", "complaint"]))
def test_a_stencilled_message_equals_the_rendered_one(app_ctx, channel, template, language,
                                                      name, tracking, due, suggested, kind):
    context = _context(name, tracking, due, suggested, kind)
    direct = render(channel, template, language, context, footers=False)
    filled = render(channel, template, language, context, footers=False, slots=_SLOTS)
    assert filled == direct
    assert stencil._PREFIX not in (filled.text + filled.subject + (filled.html or ""))


def test_the_values_change_from_one_message_to_the_next(app_ctx):
    first = render("email", "case_received", "en", _context("Li <b>", "SF1", None, 2350,
                                                           "claim"), slots=_SLOTS)
    second = render("email", "case_received", "en", _context("Wang & Co", "SF2", None, 990,
                                                            "claim"), slots=_SLOTS)
    assert "Li &lt;b&gt;" in first.html and "Li <b>" in first.text
    assert "Wang &amp; Co" in second.html and "Li" not in second.html + second.text
    assert "¥23.50" in first.text and "¥9.90" in second.text


def test_each_language_has_its_own_stencil(app_ctx):
    context = _context("Li", "SF1", datetime(2026, 12, 3, 9, 30, tzinfo=UTC), None, "claim")
    english = render("email", "case_received", "en", context, slots=_SLOTS)
    chinese = render("email", "case_received", "zh_Hans", context, slots=_SLOTS)
    assert english.subject != chinese.subject
    assert english == render("email", "case_received", "en", context)
    assert chinese == render("email", "case_received", "zh_Hans", context)


def _fill(app, source: str, values: dict, slots=("name",)) -> str:
    template = app.jinja_env.from_string(source)
    return stencil.fill(f"test:{source}", values, slots, lambda given: template.render(given),
                        autoescape=False)


@pytest.mark.parametrize("source", [
    "{% if name == 'x' %}equal{% endif %}[{{ name }}]",  # a comparison
    "{{ name|upper }}",  # a filter that does not know slots
    "{{ name|length }}",  # a filter that cannot take a slot
])
def test_a_template_that_uses_a_slot_as_a_value_is_rendered_directly(app_ctx, source):
    template = app_ctx.jinja_env.from_string(source)
    for name in ("x", "abc", "Li Wang"):
        assert _fill(app_ctx, source, {"name": name}) == template.render(name=name)


def test_filters_marked_slot_aware_run_when_the_stencil_is_filled(app_ctx):
    source = "{{ when|local_time }} / {{ amount|yuan }}"
    template = app_ctx.jinja_env.from_string(source)
    moment = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    for step in range(3):
        values = {"when": moment + timedelta(days=step), "amount": 100 + step}
        assert _fill(app_ctx, source, values, slots=("when", "amount")) == \
            template.render(values)


def test_a_slot_cannot_be_used_outside_a_recording():
    with pytest.raises(RuntimeError):
        stencil._recorder.slot("name")
