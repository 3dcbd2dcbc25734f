"""Render a notification template for one channel and language.

Email: ``templates/email/<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``; SMS:
``templates/sms/<name>.txt``. Each renders under ``flask_babel.force_locale(language)``.
The unsubscribe footer (``email/_footer.*``, ``sms/_footer.txt``) is rendered once per
language with a placeholder that :func:`personalise` replaces per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup, escape

UNSUBSCRIBE_PLACEHOLDER = "PORTAL-UNSUBSCRIBE-URL-PLACEHOLDER"


@dataclass(frozen=True)
class Rendered:
    """One message rendered in one language (footers still hold the placeholder)."""

    subject: str
    text: str
    html: str | None
    footer_text: str
    footer_html: str | None


def _context(context: dict, language: str) -> dict:
    return {
        **context,
        "language": language,
        "public_base_url": current_app.config["PUBLIC_BASE_URL"],
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }


def _gettext_of(translate):
    """Jinja's "newstyle" ``gettext`` (what Flask-Babel installs) over one catalog.

    Flask-Babel's global looks the catalog up in the request context on every string; a
    confirmation has some twenty, rendered in a known language, so the catalog is looked
    up once per message and this function is put in the template's context, where
    ``_()`` finds it before the global."""

    @pass_context
    def gettext(context, string, /, **variables):
        text = translate(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our own catalog; the values are escaped by %
        return text % variables

    return gettext


def render_template(template: str, /, **values) -> str:
    """Render a message template: the app's Jinja environment (globals, filters, gettext),
    without the page context processors (signed-in user, permissions, forms) and signals
    that ``flask.render_template`` adds; no message uses them, and a claim renders four."""
    return current_app.jinja_env.get_template(template).render(values)


def render(channel: str, template: str, language: str, context: dict,
           footers: bool = True) -> Rendered:
    """Render ``template`` for ``channel`` in ``language``.

    ``footers=False`` leaves the unsubscribe footers empty: for messages that go to no
    subscription (a case confirmation), which then cost two or three renders less."""
    values = _context(context, language)
    with force_locale(language):
        values["gettext"] = _gettext_of(get_translations().ugettext)
        if channel == "email":
            subject = render_template(f"email/{template}.subject.txt", **values)
            return Rendered(
                subject=" ".join(subject.split()),
                text=render_template(f"email/{template}.txt", **values).strip() + "\n",
                html=render_template(f"email/{template}.html", **values),
                footer_text=render_template("email/_footer.txt", **values).strip()
                if footers else "",
                footer_html=render_template("email/_footer.html", **values)
                if footers else None,
            )
        if channel == "sms":
            text = render_template(f"sms/{template}.txt", **values)
            footer = render_template("sms/_footer.txt", **values) if footers else ""
            return Rendered(subject="", text=" ".join(text.split()), html=None,
                            footer_text=" ".join(footer.split()), footer_html=None)
    raise ValueError(f"unknown channel {channel!r}")


def personalise_email(rendered: Rendered, unsubscribe: str | None) -> tuple[str, str | None]:
    """Text and HTML bodies for one recipient, with the footer when subscribed."""
    text, html = rendered.text, rendered.html
    if not unsubscribe:
        return text, html
    text = text.rstrip("\n") + "\n\n-- \n" + rendered.footer_text.replace(
        UNSUBSCRIBE_PLACEHOLDER, unsubscribe) + "\n"
    if html is not None and rendered.footer_html:
        footer = rendered.footer_html.replace(UNSUBSCRIBE_PLACEHOLDER, str(escape(unsubscribe)))
        marker = html.rfind("</body>")
        html = html[:marker] + footer + html[marker:] if marker >= 0 else html + footer
    return text, html
