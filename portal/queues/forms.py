"""Forms of the agent workspace and of the queue administration (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from portal.forms import PortalForm

PRIORITY_CHOICES = [("1", _l("Urgent")), ("2", _l("High")), ("3", _l("Normal")), ("4", _l("Low"))]
STRATEGY_CHOICES = [("manual", _l("Manual (take next)")), ("round_robin", _l("Round robin")),
                    ("least_loaded", _l("Least loaded"))]
LANGUAGE_CHOICES = [("zh_Hans", "简体中文"), ("zh_Hant", "繁體中文"), ("en", "English")]
SOURCE_CHOICES = [("phone", _l("Phone call")),
                  ("postal_12305", _l("Forward from the postal authority (12305)"))]


class ReplyForm(PortalForm):
    """A public reply or an internal note."""

    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=8000)])
    internal = BooleanField(_l("Internal note (never shown to the customer)"))
    wait = BooleanField(_l("Wait for the customer's answer"))


class RevealForm(PortalForm):
    """Show the customer's full contact details (logged)."""

    reason = StringField(_l("Why (logged)"), validators=[DataRequired(), Length(max=300)])


class AssignForm(PortalForm):
    """Assign to an agent (empty: back to the queue)."""

    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])


class MoveForm(PortalForm):
    """Move to another queue, or change the priority."""

    queue = SelectField(_l("Queue"), choices=[], validate_choice=False)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES)
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])


class StateForm(PortalForm):
    """Change the case's state."""

    state = SelectField(_l("New state"), choices=[
        ("open", _l("Open")), ("waiting_customer", _l("Waiting for the customer")),
        ("resolved", _l("Resolved")), ("closed", _l("Closed"))])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])


class ApproveForm(PortalForm):
    """Approve and offer compensation."""

    amount = StringField(_l("Amount (yuan)"), validators=[DataRequired(), Length(max=20)])
    reason = TextAreaField(_l("Why (logged)"), validators=[DataRequired(), Length(max=2000)])


class MergeForm(PortalForm):
    """Merge this case into another."""

    target = StringField(_l("Merge into case (reference)"),
                         validators=[DataRequired(), Length(max=30)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])


class TagForm(PortalForm):
    """Add tags."""

    tags = StringField(_l("Tags (comma separated)"), validators=[DataRequired(),
                                                                 Length(max=200)])


class BulkForm(PortalForm):
    """A bulk action on the selected cases."""

    action = SelectField(_l("Action"), choices=[
        ("assign", _l("Assign to")), ("state", _l("Change state to"))])
    assignee = SelectField(_l("Agent"), choices=[], validate_choice=False)
    state = SelectField(_l("State"), validate_choice=False, choices=[
        ("open", _l("Open")), ("waiting_customer", _l("Waiting for the customer")),
        ("resolved", _l("Resolved")), ("closed", _l("Closed"))])


class StandingOfferForm(PortalForm):
    """Apply an incident's standing offer to all its open delay claims."""

    incident = StringField(_l("Incident reference"), validators=[DataRequired(),
                                                                 Length(max=30)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])


class StaffCaseForm(PortalForm):
    """A case entered by staff."""

    source = SelectField(_l("Source"), choices=SOURCE_CHOICES)
    kind = SelectField(_l("Kind"), choices=[("complaint", _l("Complaint")),
                                            ("claim", _l("Compensation claim")),
                                            ("enquiry", _l("Enquiry")),
                                            ("callback", _l("Call-back request"))])
    type = SelectField(_l("Type"), choices=[], validate_choice=False)
    customer_name = StringField(_l("Customer name"), validators=[DataRequired(), Length(max=80)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])
    email = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    tracking_number = StringField(_l("Tracking number"), validators=[Optional(), Length(max=40)])
    amount = StringField(_l("Amount claimed (yuan)"), validators=[Optional(), Length(max=20)])
    description = TextAreaField(_l("What the customer said"),
                                validators=[DataRequired(), Length(max=8000)])


class AvailabilityForm(PortalForm):
    """An agent's availability and capacity."""

    available = BooleanField(_l("Available for new cases"))
    capacity = IntegerField(_l("Capacity (open cases)"),
                            validators=[Optional(), NumberRange(min=0, max=500)])


class QueueForm(PortalForm):
    """Create or edit a queue."""

    slug = StringField(_l("Short name (in the address)"), validators=[
        DataRequired(), Length(max=40), Regexp(r"^[a-z0-9][a-z0-9-]*$")])
    name_zh_hans = StringField(_l("Name (Simplified Chinese)"), validators=[Length(max=120)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=120)])
    strategy = SelectField(_l("Assignment"), choices=STRATEGY_CHOICES)
    calendar = SelectField(_l("Business calendar"), choices=[], validate_choice=False)
    lead = SelectField(_l("Queue lead"), choices=[], validate_choice=False)
    members = StringField(_l("Members (emails, comma separated)"),
                          validators=[Optional(), Length(max=4000)])
    position = IntegerField(_l("Order"), validators=[Optional(), NumberRange(0, 100000)])
    is_fallback = BooleanField(_l("Fallback queue (catches cases no rule matched)"))
    is_escalation = BooleanField(_l("Escalation queue"))


class RuleForm(PortalForm):
    """A routing rule (conditions left empty do not restrict)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    position = IntegerField(_l("Order (smaller first)"), validators=[NumberRange(0, 100000)],
                            default=100)
    enabled = BooleanField(_l("Enabled"), default=True)
    kind = StringField(_l("Case kinds"), validators=[Optional(), Length(max=200)])
    type = StringField(_l("Case types"), validators=[Optional(), Length(max=400)])
    incident = StringField(_l("Incident: any, none, or references"),
                           validators=[Optional(), Length(max=400)])
    origin_region = StringField(_l("Origin regions"), validators=[Optional(), Length(max=400)])
    destination_region = StringField(_l("Destination regions"),
                                     validators=[Optional(), Length(max=400)])
    language = StringField(_l("Languages"), validators=[Optional(), Length(max=100)])
    amount_min = StringField(_l("Amount claimed above (yuan)"),
                             validators=[Optional(), Length(max=20)])
    amount_max = StringField(_l("Amount claimed at most (yuan)"),
                             validators=[Optional(), Length(max=20)])
    keywords = StringField(_l("Keywords in the text"), validators=[Optional(), Length(max=400)])
    earlier_cases_min = IntegerField(_l("Customer's earlier cases at least"),
                                     validators=[Optional(), NumberRange(0, 1000)])
    queue = SelectField(_l("Send to queue"), choices=[], validate_choice=False)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, default="3")
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=200)])


class SlaForm(PortalForm):
    """An SLA policy of a queue for one priority."""

    queue = SelectField(_l("Queue"), choices=[], validate_choice=False)
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES)
    first_response_minutes = IntegerField(_l("First response (business minutes)"),
                                          validators=[DataRequired(), NumberRange(1, 100000)])
    resolution_minutes = IntegerField(_l("Resolution (business minutes)"),
                                      validators=[DataRequired(), NumberRange(1, 1000000)])
    at_risk_percent = IntegerField(_l("At risk at (% used)"), default=80,
                                   validators=[DataRequired(), NumberRange(1, 99)])
    notify_lead = BooleanField(_l("On breach: notify the queue lead"), default=True)
    raise_priority = BooleanField(_l("On breach: raise the priority"), default=True)
    move_escalation = BooleanField(_l("On breach: move to the escalation queue"))


class CalendarForm(PortalForm):
    """A business calendar's name, zone and working hours."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    timezone = StringField(_l("Time zone"), default="Asia/Shanghai",
                           validators=[DataRequired(), Length(max=60)])
    hours = TextAreaField(_l("Working hours (one weekday per line, e.g. Mon 09:00-18:00)"),
                          validators=[DataRequired(), Length(max=2000)])


class CalendarDayForm(PortalForm):
    """Add or correct a holiday or a make-up working day."""

    day = DateField(_l("Date"), validators=[DataRequired()])
    kind = SelectField(_l("Kind"), choices=[("holiday", _l("Holiday (day off)")),
                                            ("workday", _l("Make-up working day"))])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=80)])


class KeywordForm(PortalForm):
    """An escalation keyword."""

    language = SelectField(_l("Language"), choices=[*LANGUAGE_CHOICES, ("*", "*")])
    keyword = StringField(_l("Keyword"), validators=[DataRequired(), Length(max=80)])
    tag = StringField(_l("Tag"), default="escalation-risk",
                      validators=[DataRequired(), Length(max=40)])
    priority = SelectField(_l("Raises priority to"), choices=PRIORITY_CHOICES, default="2")


class CannedForm(PortalForm):
    """A canned reply in three languages."""

    slug = StringField(_l("Short name"), validators=[DataRequired(), Length(max=40),
                                                     Regexp(r"^[a-z0-9][a-z0-9-]*$")])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    body_zh_hans = TextAreaField(_l("Simplified Chinese"), validators=[Length(max=4000)])
    body_zh_hant = TextAreaField(_l("Traditional Chinese (empty: converted)"),
                                 validators=[Length(max=4000)])
    body_en = TextAreaField(_l("English"), validators=[Length(max=4000)])
