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

from portal.i18n import locale_of
from portal.notifications import stencil

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


def _renderer(language: str, slots: frozenset[str]):
    """``render_template`` itself, or through a stencil per language (``stencil.py``)
    when the caller names the values the template only prints."""
    if not slots:
        return render_template
    env = current_app.jinja_env

    def render_with_stencil(template: str, /, **values) -> str:
        autoescape = env.autoescape(template) if callable(env.autoescape) else env.autoescape
        return stencil.fill(template, values, slots,
                            lambda given: render_template(template, **given),
                            bool(autoescape), extra=language)

    return render_with_stencil


def render(channel: str, template: str, language: str, context: dict,
           footers: bool = True, slots: frozenset[str] = frozenset()) -> Rendered:
    """Render ``template`` for ``channel`` in ``language``.

    ``footers=False`` leaves the unsubscribe footers empty: for messages that go to no
    subscription (a case confirmation), which then cost two or three renders less.
    ``slots``: the context values the templates only print (see ``stencil.py``); the
    message is then filled in from a stencil kept per language and shape."""
    values = _context(context, language)
    draw = _renderer(language, slots)
    with force_locale(locale_of(language)):
        values["gettext"] = _gettext_of(get_translations().ugettext)
        if channel == "email":
            subject = draw(f"email/{template}.subject.txt", **values)
            return Rendered(
                subject=" ".join(subject.split()),
                text=draw(f"email/{template}.txt", **values).strip() + "\n",
                html=draw(f"email/{template}.html", **values),
                footer_text=draw("email/_footer.txt", **values).strip()
                if footers else "",
                footer_html=draw("email/_footer.html", **values)
                if footers else None,
            )
        if channel == "sms":
            text = draw(f"sms/{template}.txt", **values)
            footer = draw("sms/_footer.txt", **values) if footers else ""
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
