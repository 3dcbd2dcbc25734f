"""Forms of the incident pages (WTForms, CSRF through Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.forms import PortalForm
from portal.incidents.labels import SEVERITY_LABELS, STATE_LABELS, TYPE_LABELS


class SubscribeForm(PortalForm):
    """Email subscription to one incident."""

    email = EmailField(_l("Email address"), validators=[
        DataRequired(message=_l("Please enter your email address.")),
        Email(message=_l("Please enter a valid email address.")), Length(max=254)])


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]



class IncidentForm(PortalForm):
    """Declare or edit an incident."""

    title_zh_hans = StringField(_l("Title (Simplified Chinese)"),
                                validators=[DataRequired(), Length(max=200)])
    title_zh_hant = StringField(_l("Title (Traditional Chinese; empty = converted)"),
                                validators=[Optional(), Length(max=200)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=200)])
    summary_zh_hans = TextAreaField(_l("Summary (Simplified Chinese)"),
                                    validators=[DataRequired(), Length(max=4000)])
    summary_zh_hant = TextAreaField(_l("Summary (Traditional Chinese; empty = converted)"),
                                    validators=[Optional(), Length(max=4000)])
    summary_en = TextAreaField(_l("Summary (English)"), validators=[Optional(),
                                                                    Length(max=4000)])
    type = SelectField(_l("Type"), choices=_choices(TYPE_LABELS))
    severity = SelectField(_l("Severity"), choices=_choices(SEVERITY_LABELS))
    regions = TextAreaField(
        _l("Provinces and cities (one per line: Chinese name | English name)"),
        validators=[Optional(), Length(max=4000)])
    hubs = TextAreaField(_l("Hubs and sorting centres (one per line)"),
                         validators=[Optional(), Length(max=4000)])
    services = TextAreaField(_l("Service lines (one per line)"),
                             validators=[Optional(), Length(max=4000)])
    started_at = DateTimeLocalField(_l("Started (local time)"), format="%Y-%m-%dT%H:%M",
                                    validators=[Optional()])
    expected_recovery_at = DateTimeLocalField(_l("Expected recovery (local time)"),
                                              format="%Y-%m-%dT%H:%M", validators=[Optional()])
    commander_id = SelectField(_l("Incident commander"), coerce=int, choices=[])
    offer_zh_hans = TextAreaField(_l("Standing offer to affected customers (Simplified)"),
                                  validators=[Optional(), Length(max=2000)])
    offer_zh_hant = TextAreaField(_l("Standing offer (Traditional; empty = converted)"),
                                  validators=[Optional(), Length(max=2000)])
    offer_en = TextAreaField(_l("Standing offer (English)"),
                             validators=[Optional(), Length(max=2000)])
    drill = BooleanField(_l("This is a drill (staff only, nobody is notified)"))


class UpdateForm(PortalForm):
    """Draft an update (or correct a published one)."""

    state = SelectField(_l("State"), choices=_choices(STATE_LABELS))
    body_zh_hans = TextAreaField(_l("Update (Simplified Chinese, Markdown)"),
                                 validators=[DataRequired(), Length(max=8000)])
    body_zh_hant = TextAreaField(_l("Update (Traditional Chinese; empty = converted)"),
                                 validators=[Optional(), Length(max=8000)])
    body_en = TextAreaField(_l("Update (English, Markdown)"),
                            validators=[Optional(), Length(max=8000)])
    notify = BooleanField(_l("Notify subscribers by email"), default=True)


class NoteForm(PortalForm):
    """An internal note."""

    body = TextAreaField(_l("Internal note (never shown to customers)"),
                         validators=[DataRequired(), Length(max=10000)])


class ReasonForm(PortalForm):
    """A correction note or a withdrawal reason, in three languages."""

    reason_zh_hans = TextAreaField(_l("Reason (Simplified Chinese)"),
                                   validators=[DataRequired(), Length(max=1000)])
    reason_zh_hant = TextAreaField(_l("Reason (Traditional Chinese; empty = converted)"),
                                   validators=[Optional(), Length(max=1000)])
    reason_en = TextAreaField(_l("Reason (English)"), validators=[Optional(),
                                                                  Length(max=1000)])


class CorrectionForm(UpdateForm, ReasonForm):
    """Correct a published update: new text plus a note saying what changed."""


class ConfirmForm(PortalForm):
    """A bare form for buttons (publish, resolve): CSRF only."""

    notify = BooleanField(_l("Notify subscribers"), default=True)
