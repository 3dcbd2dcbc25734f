"""Small CSRF-protected forms of the notification pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp

from portal.forms import PortalForm


class ActionForm(PortalForm):
    """A single button (confirm, unsubscribe, resubscribe)."""

    submit = SubmitField(_l("Continue"))


class RetryForm(PortalForm):
    """Retry one row, or every row shown (``ids`` is a comma-separated list)."""

    ids = HiddenField(validators=[DataRequired(), Regexp(r"^\d+(,\d+)*$")])
    submit = SubmitField(_l("Retry"))

    def id_list(self) -> list[int]:
        """The row ids as integers."""
        return [int(value) for value in self.ids.data.split(",") if value]
