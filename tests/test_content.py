"""Three-language content: OpenCC fill-in, machine marks, fallback and its visible note."""

from __future__ import annotations

import pytest

from portal.content import (
    make_translated,
    missing_languages,
    resolve,
    to_traditional,
    translated,
)

MACRO = ('{% from "_macros/content.html" import translated_block %}'
         '{{ translated_block(value) }}')


def test_empty_traditional_is_converted_with_opencc_and_marked_auto(app_ctx):
    value = make_translated(zh_hans="快递延误", en="Delivery delayed")
    assert value["zh_Hant"] == "快遞延誤"
    assert value["auto"] == ["zh_Hant"]
    assert value["zh_Hans"] == "快递延误" and value["en"] == "Delivery delayed"


def test_explicit_traditional_is_kept_and_not_marked(app_ctx):
    value = make_translated(zh_hans="快递延误", zh_hant="包裹延遲送達")
    assert value["zh_Hant"] == "包裹延遲送達"
    assert value["auto"] == []


def test_text_is_trimmed_and_nothing_converted_without_simplified(app_ctx):
    value = make_translated(zh_hans="  ", en="  Delayed  ")
    assert value == {"zh_Hans": "", "zh_Hant": "", "en": "Delayed", "auto": []}


def test_editing_keeps_machine_mark_only_while_traditional_is_unchanged(app_ctx):
    first = make_translated(zh_hans="快递延误")
    # Staff change the Simplified text and send the form back with the machine text
    # untouched: it is re-converted and stays marked.
    untouched = make_translated(zh_hans="快递恢复", zh_hant=first["zh_Hant"], previous=first)
    assert untouched["zh_Hant"] == "快遞恢復"
    assert untouched["auto"] == ["zh_Hant"]
    # Staff edit the Traditional text: it is theirs now.
    edited = make_translated(zh_hans="快递恢复", zh_hant="快遞已恢復", previous=untouched)
    assert edited["zh_Hant"] == "快遞已恢復"
    assert edited["auto"] == []
    # A human text equal to the old one stays human on the next save.
    again = make_translated(zh_hans="快递恢复正常", zh_hant="快遞已恢復", previous=edited)
    assert again["zh_Hant"] == "快遞已恢復"
    assert again["auto"] == []


def test_conversion_is_configurable(app_ctx):
    assert to_traditional("软件", "s2t") == "軟件"
    assert to_traditional("软件", "s2twp") == "軟體"
    assert to_traditional("里面", "s2t") != to_traditional("里面", "s2tw")
    app_ctx.config["OPENCC_CONVERSION"] = "s2twp"
    assert make_translated(zh_hans="软件更新")["zh_Hant"] == "軟體更新"
    app_ctx.config["OPENCC_CONVERSION"] = "s2t"
    assert make_translated(zh_hans="软件更新")["zh_Hant"] == "軟件更新"


def test_conversion_without_app_context_defaults_to_s2t():
    assert to_traditional("快递延误") == "快遞延誤"
    assert to_traditional("") == ""


@pytest.mark.parametrize(("value", "language", "shown", "fallback"), [
    ({"zh_Hans": "简", "zh_Hant": "繁", "en": "E"}, "en", "en", False),
    ({"zh_Hans": "简", "zh_Hant": "繁", "en": ""}, "en", "zh_Hans", True),
    ({"zh_Hans": "", "zh_Hant": "繁", "en": ""}, "en", "zh_Hant", True),
    ({"zh_Hans": "简", "zh_Hant": "", "en": "E"}, "zh_Hant", "zh_Hans", True),
    ({"zh_Hans": "", "zh_Hant": "", "en": "E"}, "zh_Hant", "en", True),
    ({"zh_Hans": "", "zh_Hant": "繁", "en": "E"}, "zh_Hans", "zh_Hant", True),
    ({"zh_Hans": "", "zh_Hant": "", "en": "E"}, "zh_Hans", "en", True),
    ({"zh_Hans": "简", "zh_Hant": "繁", "en": "E"}, "zh_Hant", "zh_Hant", False),
])
def test_resolve_fallback_order(app_ctx, value, language, shown, fallback):
    result = resolve(value, language)
    assert result.language == shown
    assert result.requested == language
    assert result.is_fallback is fallback
    assert result.text == value[shown]


def test_resolve_reports_machine_conversion_and_empty_values(app_ctx):
    value = make_translated(zh_hans="快递延误")
    assert resolve(value, "zh_Hant").machine_converted is True
    assert resolve(value, "zh_Hans").machine_converted is False
    empty = resolve(None, "en")
    assert empty.text == "" and not empty.is_fallback
    assert resolve({"zh_Hans": "简"}, "klingon").requested == "zh_Hans"


def test_resolve_uses_readers_language(app):
    value = {"zh_Hans": "简", "zh_Hant": "繁", "en": "E"}
    with app.test_request_context("/?lang=en"):
        assert resolve(value).text == "E"
        assert translated(value) == "E"
    with app.test_request_context("/", headers={"Accept-Language": "zh-HK"}):
        assert resolve(value).text == "繁"


def test_missing_languages(app_ctx):
    assert missing_languages({"zh_Hans": "简", "zh_Hant": "", "en": None}) == ["zh_Hant", "en"]
    assert missing_languages(None) == ["zh_Hans", "zh_Hant", "en"]


def render(app, source: str, url: str, **context) -> str:
    with app.test_request_context(url):
        return app.jinja_env.from_string(source).render(**context)


def test_tr_filter_shows_text_in_readers_language_or_fallback(app):
    full = {"zh_Hans": "简体", "zh_Hant": "繁體", "en": "English text"}
    only_chinese = {"zh_Hans": "仅简体", "zh_Hant": "", "en": ""}
    assert render(app, "{{ v|tr }}", "/?lang=en", v=full) == "English text"
    assert render(app, "{{ v|tr }}", "/?lang=zh_Hant", v=full) == "繁體"
    assert render(app, "{{ v|tr }}", "/?lang=en", v=only_chinese) == "仅简体"


def test_macro_shows_visible_note_when_falling_back(app):
    html = render(app, MACRO, "/?lang=en", value={"zh_Hans": "仅简体", "zh_Hant": "", "en": ""})
    assert 'lang="zh-Hans">仅简体</div>' in html
    assert 'class="fallback-note"' in html
    assert "Not yet available in your language" in html
    assert "简体中文" in html  # names the language actually shown


def test_macro_has_no_note_in_readers_language(app):
    html = render(app, MACRO, "/?lang=en",
                  value={"zh_Hans": "简", "zh_Hant": "繁", "en": "Delayed"})
    assert 'lang="en">Delayed</div>' in html
    assert "fallback-note" not in html


def test_macro_marks_machine_converted_traditional(app):
    with app.app_context():
        value = make_translated(zh_hans="快递延误", en="Delayed")
    html = render(app, MACRO, "/?lang=zh_Hant", value=value)
    assert 'lang="zh-Hant">快遞延誤</div>' in html
    assert 'class="fallback-note"' in html


def test_macro_escapes_content(app):
    html = render(app, MACRO, "/?lang=en", value={"en": "<script>x</script>"})
    assert "<script>" not in html and "&lt;script&gt;" in html
