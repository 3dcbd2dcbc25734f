"""Language selection: browser tags mapped to the three portal languages."""

from __future__ import annotations

import pytest

from portal.i18n import current_language, html_lang, normalise_language, select_locale


@pytest.mark.parametrize(("tag", "expected"), [
    ("zh-CN", "zh_Hans"),
    ("zh-SG", "zh_Hans"),
    ("zh-TW", "zh_Hant"),
    ("zh-HK", "zh_Hant"),
    ("zh-MO", "zh_Hant"),
    ("zh-tw", "zh_Hant"),
    ("zh-Hans", "zh_Hans"),
    ("zh-Hant", "zh_Hant"),
    ("zh_Hans", "zh_Hans"),
    ("zh_Hant", "zh_Hant"),
    ("zh-Hant-HK", "zh_Hant"),
    ("zh-Hans-HK", "zh_Hans"),
    ("zh", "zh_Hans"),
    ("en", "en"),
    ("en-GB", "en"),
    ("en_US", "en"),
    ("fr", None),
    ("ja-JP", None),
    ("", None),
    (None, None),
    ("   ", None),
    ("*", None),
    ("x!!<script>", None),
    ("zz-ZZ", None),
])
def test_normalise_language(tag, expected):
    assert normalise_language(tag) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
    ("zh-HK", "zh_Hant"),
    ("zh-TW,zh;q=0.9", "zh_Hant"),
    ("fr, en;q=0.5", "en"),
    ("en-GB,en;q=0.9", "en"),
    ("fr, de;q=0.5", "zh_Hans"),  # nothing we speak: the default
    ("en;q=0.2, zh-HK;q=0.8", "zh_Hant"),  # quality order, not header order
    ("zh-TW;q=0, en", "en"),
    ("fr, zh-TW;q=0", "zh_Hans"),  # q=0 means "not this one"
    ("", "zh_Hans"),
])
def test_select_locale_from_accept_language(app, header, expected):
    with app.test_request_context("/", headers={"Accept-Language": header}):
        assert select_locale() == expected


def test_lang_parameter_wins(app):
    headers = {"Accept-Language": "zh-CN,zh;q=0.9"}
    with app.test_request_context("/?lang=en", headers=headers):
        assert select_locale() == "en"
    with app.test_request_context("/?lang=zh-TW", headers=headers):
        assert select_locale() == "zh_Hant"
    # An unknown value is ignored, not obeyed.
    with app.test_request_context("/?lang=fr", headers={"Accept-Language": "zh-HK"}):
        assert select_locale() == "zh_Hant"


def test_select_locale_outside_a_request(app):
    with app.app_context():
        assert select_locale() == "zh_Hans"


def test_selected_locale_drives_current_language_and_html_lang(client):
    response = client.get("/", headers={"Accept-Language": "zh-HK"})
    assert '<html lang="zh-Hant">' in response.get_data(as_text=True)
    response = client.get("/", headers={"Accept-Language": "fr, en;q=0.5"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_current_language_in_request(app):
    with app.test_request_context("/?lang=zh_Hant"):
        assert current_language() == "zh_Hant"
        assert html_lang() == "zh-Hant"
    with app.test_request_context("/"):
        assert current_language() == "zh_Hans"
        assert html_lang() == "zh-Hans"


def test_local_time_is_in_the_readers_language_and_the_configured_zone(app):
    """Formatted texts are kept per process: each language still gets its own."""
    from datetime import UTC, datetime

    from flask_babel import force_locale

    from portal.templating import local_time

    moment = datetime(2026, 11, 26, 16, 5, tzinfo=UTC)
    seen = {}
    with app.test_request_context("/"):
        for language in ("zh_Hans", "zh_Hant", "en", "zh_Hans"):
            with force_locale(language):
                seen.setdefault(language, set()).add(local_time(moment))
    assert all(len(texts) == 1 for texts in seen.values())  # the same text every time
    zh_hans, zh_hant, english = (seen[lang].pop() for lang in ("zh_Hans", "zh_Hant", "en"))
    assert len({zh_hans, zh_hant, english}) == 3 and "2026" in english
    assert local_time(None) == ""
    assert "Nov 27, 2026, 12:05" in english  # Asia/Shanghai, the configured default


def test_each_language_is_parsed_once_and_requests_get_its_locale(app):
    from flask_babel import get_locale

    from portal.i18n import locale_of

    assert locale_of("zh_Hant") is locale_of("zh_Hant")
    assert str(locale_of("zh_Hant")) == "zh_Hant" and locale_of("en").language == "en"
    for lang, expected in (("zh_Hant", "zh_Hant"), ("en", "en"), ("xx", "zh_Hans")):
        with app.test_request_context(f"/?lang={lang}"):
            assert str(get_locale()) == expected
