"""Forms of the staff pages (sign-in, passwords, staff administration, tokens, audit)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    widgets,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from portal.forms import PortalForm
from portal.staff.models import Role

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.COMMANDER: _l("Incident commander"),
    Role.RESPONDER: _l("Responder"),
    Role.SUPERVISOR: _l("Supervisor"),
    Role.AGENT: _l("Agent"),
}


def role_choices() -> list[tuple[str, object]]:
    """Return (value, translated label) pairs for every role."""
    return [(role.value, ROLE_LABELS[role]) for role in Role]


class LoginForm(PortalForm):
    """Staff sign-in."""

    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Sign in"))


class PasswordChangeForm(PortalForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"),
                                 validators=[DataRequired(), Length(max=1024)],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo(
                                "new_password", message=_l("The passwords do not match."))],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Change password"))


class StaffCreateForm(PortalForm):
    """Create a staff account (administrators only)."""

    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    password = PasswordField(_l("Initial password"),
                             validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Create account"))


class RoleForm(PortalForm):
    """Change a staff member's role."""

    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    submit = SubmitField(_l("Change role"))


class ActionForm(PortalForm):
    """An empty form: a CSRF-protected button (sign out, deactivate, unlock, revoke)."""

    submit = SubmitField(_l("Confirm"))


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class TokenCreateForm(PortalForm):
    """Create an API token with a name and scopes."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    scopes = MultiCheckboxField(_l("Scopes"), choices=[])
    submit = SubmitField(_l("Create token"))

    def validate_scopes(self, field) -> None:
        """At least one scope (no ``required`` attribute: it would demand every box)."""
        if not field.data:
            raise ValidationError(_l("Choose at least one scope."))

    def __init__(self, *args, **kwargs):
        """Offer the fixed list of scopes from ``portal.api.auth``."""
        super().__init__(*args, **kwargs)
        from portal.api.auth import SCOPES

        self.scopes.choices = [(key, f"{key} — {label}") for key, label in SCOPES.items()]


class AuditFilterForm(PortalForm):
    """Filters of the audit log page (sent with GET, so no CSRF token)."""

    class Meta:
        """GET form: no CSRF."""

        csrf = False

    action = StringField(_l("Action"), validators=[Optional(), Length(max=80)])
    actor = StringField(_l("Actor"), validators=[Optional(), Length(max=200)])
    target = StringField(_l("Target"), validators=[Optional(), Length(max=120)])
