"""Forms of the parcel pages (the look-up itself is a plain GET form: no CSRF, cacheable)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import RadioField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.forms import PortalForm
from portal.parcels.labels import MODE_LABELS


class DetailsForm(PortalForm):
    """The last 4 digits of the sender's or recipient's phone."""

    digits = StringField(_l("Last 4 digits of the sender's or recipient's phone number"),
                         validators=[DataRequired(), Length(max=20)])


class SubscribeForm(PortalForm):
    """Get news about one parcel by SMS or email."""

    channel = RadioField(_l("How should we tell you?"),
                         choices=[SelectChoice("sms", _l("Text message (SMS)")),
                                  SelectChoice("email", _l("Email"))],
                         default="sms", validators=[DataRequired()])
    address = StringField(_l("Mobile number or email address"),
                          validators=[DataRequired(), Length(max=254)])


class ImportForm(PortalForm):
    """Upload a CSV or XLSX list of affected parcels."""

    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired()])
    mode = RadioField(_l("Mode"), choices=[SelectChoice(k, v) for k, v in MODE_LABELS.items()],
                      default="add",
                      validators=[DataRequired()])


class ConfirmForm(PortalForm):
    """A button that only needs CSRF protection (undo)."""
