"""portal.forms.PortalForm: WTForms' own messages in the reader's language, from a catalog
loaded once per process and language."""

from __future__ import annotations

import pytest
from flask_wtf.i18n import translations as flask_wtf_translations
from wtforms import SelectField

from portal import forms
from portal.forms import PortalForm


class _Choice(PortalForm):
    class Meta:
        csrf = False

    pick = SelectField(choices=[("a", "A")])


@pytest.mark.parametrize("lang", ["en", "zh_Hans", "zh_Hant"])
def test_wtforms_messages_match_flask_wtf_in_every_language(app, lang):
    with app.test_request_context(f"/?lang={lang}", method="POST", data={"pick": "zzz"}):
        form = _Choice()
        assert not form.validate()
        expected = flask_wtf_translations.gettext("Not a valid choice.")
        assert form.pick.errors == [expected]
        if lang != "en":
            assert expected != "Not a valid choice."  # really translated


def test_the_catalog_is_loaded_once_per_language(app, monkeypatch):
    loads = []
    real_load = forms.support.Translations.load

    def counting_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(forms, "_CATALOGS", {})
    monkeypatch.setattr(forms.support.Translations, "load", counting_load)
    for _ in range(3):
        with app.test_request_context("/?lang=zh_Hans", method="POST", data={"pick": "zzz"}):
            _Choice().validate()
    assert len(loads) == 1


class _Signed(PortalForm):
    pick = SelectField(choices=[("a", "A")])


def test_the_csrf_token_is_signed_only_when_the_form_is_shown(app):
    from flask import g
    from flask_wtf.csrf import generate_csrf, validate_csrf

    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context("/", method="POST", data={"pick": "a"}):
        form = _Signed()
        assert "csrf_token" not in g  # built and read, never printed: nothing signed
        assert form.pick.data == "a"
    with app.test_request_context("/"):
        form = _Signed()
        html = str(form.csrf_token)
        token = generate_csrf()  # the request's token, as a page's csrf_token() prints it
        assert f'value="{token}"' in html
        validate_csrf(token)  # raises when the token is not valid


def _verdicts(field_classes, choices, coerce, submitted, lang="en"):
    """Each class's errors for ``submitted`` (None: the field is absent from the form)."""
    from flask import current_app

    verdicts = []
    for field_class in field_classes:
        class _Form(PortalForm):
            class Meta:
                csrf = False

            pick = field_class(choices=choices, coerce=coerce)

        data = {} if submitted is None else {"pick": submitted}
        with current_app.test_request_context(f"/?lang={lang}", method="POST", data=data):
            form = _Form()
            form.validate()
            verdicts.append(form.pick.errors)
    return verdicts


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
@pytest.mark.parametrize(("choices", "coerce", "submitted"), [
    ([("a", "A"), ("b", "B")], str, "b"),
    ([("a", "A"), ("b", "B")], str, "zzz"),
    ([("a", "A"), ("b", "B")], str, ""),
    ([("a", "A"), ("b", "B")], str, None),
    ([("", "none"), ("a", "A")], str, ""),
    ([("1", "one"), ("2", "two")], int, "2"),
    ([("1", "one"), ("2", "two")], int, "3"),
    ([("1", "one"), ("2", "two")], int, "x"),
    (["a", "b"], str, "a"),
])
def test_the_quick_choice_check_agrees_with_wtforms(app_ctx, lang, choices, coerce, submitted):
    from wtforms import RadioField

    from portal.forms import ChoiceField, RadioChoiceField

    quick_select, select = _verdicts([ChoiceField, SelectField], choices, coerce, submitted, lang)
    assert quick_select == select
    quick_radio, radio = _verdicts([RadioChoiceField, RadioField], choices, coerce, submitted,
                                   lang)
    assert quick_radio == radio
