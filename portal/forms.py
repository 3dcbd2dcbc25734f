"""The base of every form: Flask-WTF's ``FlaskForm``, with WTForms' own messages ("Not a
valid choice", field labels derived from names) translated from a catalog kept per
process and language.

Flask-WTF reads WTForms' catalog from disk again on every request that builds a form
(about 0.4 ms, a twentieth of a claim's server time); the catalogs never change while the
process runs, so they are loaded once per language here.
"""

from __future__ import annotations

from babel import support
from flask import current_app
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.csrf import _FlaskFormCSRF
from markupsafe import escape
from wtforms import RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import messages_path

_CATALOGS: dict = {}  # Babel locale (or None) -> catalog


def wtforms_catalog() -> support.Translations:
    """WTForms' catalog in the reader's language (loaded once per process and language)."""
    locale = get_locale()
    catalog = _CATALOGS.get(locale)  # keyed by the locale itself: its str() is not free
    if catalog is None:
        catalog = _CATALOGS[locale] = support.Translations.load(
            messages_path(), [locale] if locale is not None else [], domain="wtforms")
    return catalog


class _Translations:
    """What WTForms asks of a translations object, answered from ``wtforms_catalog``."""

    def gettext(self, string: str) -> str:
        return wtforms_catalog().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return wtforms_catalog().ungettext(singular, plural, n)


_TRANSLATIONS = _Translations()


class _TokenOnDemand:
    """A form's CSRF token, signed only if the form is shown again.

    Flask-WTF signs a token (an HMAC and a timestamp) for every form it builds, also for
    a submission that is accepted and redirected, which never shows it; a claim is one."""

    __slots__ = ("_make", "_token")

    def __init__(self, make):
        self._make, self._token = make, None

    def __str__(self) -> str:
        if self._token is None:
            self._token = self._make()
        return self._token

    def __html__(self) -> str:
        return str(escape(str(self)))

    def __eq__(self, other) -> bool:
        return str(self) == str(other)

    __hash__ = None


class _CSRFOnDemand(_FlaskFormCSRF):
    """Flask-WTF's form CSRF, with the token made when it is first printed."""

    def generate_csrf_token(self, csrf_token_field):
        """The token, signed when first printed (see ``_TokenOnDemand``)."""
        return _TokenOnDemand(lambda: super(_CSRFOnDemand, self)
                              .generate_csrf_token(csrf_token_field))


class PortalForm(FlaskForm):
    """Base class of the portal's forms."""

    class Meta:
        """Flask-WTF's settings, with the per-process WTForms catalog and CSRF tokens
        signed on demand."""

        csrf_class = _CSRFOnDemand

        def get_translations(self, form):
            """The kept catalog (Flask-WTF's own behaviour when i18n is switched off)."""
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _TRANSLATIONS


class _ChoiceCheck:
    """WTForms' check that a submitted value is one of the choices, without building an
    option object per choice (WTForms 3.3 builds two: a sixth of a claim form's
    validation). The same rule: valid when the coerced value of a choice equals the data;
    a value that is not a choice goes to WTForms' check, which refuses it in its words."""

    def pre_validate(self, form):
        """As WTForms' ``SelectField.pre_validate``, for a list of choices."""
        choices = self.choices
        if self.process_errors or not self.validate_choice or not isinstance(choices, list):
            return super().pre_validate(form)
        data, coerce = self.data, self.coerce
        for choice in choices:
            if isinstance(choice, SelectChoice):
                value = choice.value
            else:
                value = choice if isinstance(choice, str) else choice[0]
            if coerce(value) == data:
                return None
        return super().pre_validate(form)  # not a choice: WTForms' own check says so


class ChoiceField(_ChoiceCheck, SelectField):
    """A ``SelectField`` whose choice check builds no option objects."""


class RadioChoiceField(_ChoiceCheck, RadioField):
    """A ``RadioField`` whose choice check builds no option objects."""
