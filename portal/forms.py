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
from wtforms.i18n import messages_path

_CATALOGS: dict[str, support.Translations] = {}


def wtforms_catalog() -> support.Translations:
    """WTForms' catalog in the reader's language (loaded once per process and language)."""
    locale = get_locale()
    key = str(locale) if locale is not None else ""
    catalog = _CATALOGS.get(key)
    if catalog is None:
        catalog = _CATALOGS[key] = support.Translations.load(
            messages_path(), [locale] if locale is not None else [], domain="wtforms")
    return catalog


class _Translations:
    """What WTForms asks of a translations object, answered from ``wtforms_catalog``."""

    def gettext(self, string: str) -> str:
        return wtforms_catalog().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return wtforms_catalog().ungettext(singular, plural, n)


_TRANSLATIONS = _Translations()


class PortalForm(FlaskForm):
    """Base class of the portal's forms."""

    class Meta:
        """Flask-WTF's settings, with the per-process WTForms catalog."""

        def get_translations(self, form):
            """The kept catalog (Flask-WTF's own behaviour when i18n is switched off)."""
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _TRANSLATIONS
