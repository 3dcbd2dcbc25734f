"""Forms of the claims feature (Flask-WTF): the claim form, the status-page forms and the
staff forms. Messages are lazy, so each reader sees them in their own language."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.cases.models import CLAIM_TYPES, COMPLAINT_TYPES, CaseKind, CaseType
from portal.forms import ChoiceField, PortalForm, RadioChoiceField
from portal.i18n import LANGUAGE_NAMES, LANGUAGES

TYPE_LABELS = {
    CaseType.DELAY: _l("Delay"),
    CaseType.LOSS: _l("Lost parcel"),
    CaseType.DAMAGE: _l("Damaged contents or items missing"),
    CaseType.WRONG_DELIVERY: _l("Delivered to the wrong person or address"),
    CaseType.ATTITUDE: _l("Complaint: courier's attitude"),
    CaseType.NOT_TO_DOOR: _l("Complaint: not delivered to my door"),
    CaseType.SIGNED_WITHOUT_CONSENT: _l("Complaint: signed for without my consent"),
    CaseType.OTHER: _l("Something else"),
}
KIND_LABELS = {
    CaseKind.CLAIM: _l("Compensation"),
    CaseKind.COMPLAINT: _l("A complaint"),
    CaseKind.ENQUIRY: _l("A question"),
    CaseKind.CALLBACK: _l("Please call me back"),
}
PHONE_REGIONS = [("CN", _l("Mainland China (+86)")), ("HK", _l("Hong Kong (+852)")),
                 ("MO", _l("Macau (+853)")), ("TW", _l("Taiwan (+886)")),
                 ("ZZ", _l("Other (start with + and the country code)"))]
CHANNELS = [("sms", _l("Text message")), ("email", _l("Email")), ("phone", _l("Phone call"))]


def normalise_tracking(text: str | None) -> str:
    """The parcels feature's normalisation (upper case, full-width to ASCII, no separators)."""
    from portal.parcels.tracking import normalise

    return normalise(text)[:40]


def tracking_problem(number: str) -> str | None:
    """Why a normalised number is not a tracking number (the parcels feature's rules:
    formats per carrier, UPU S10 check digit), in the reader's language; None when valid."""
    from portal.parcels.tracking import check_normalised

    checked = check_normalised(number, number)
    return None if checked.ok else checked.message


def parse_yuan(text: str | None) -> int | None:
    """Yuan as typed (``1,234.5``, ``¥88``, full-width digits) to fen; None when empty.

    Raises ValueError for anything else, more than 2 decimals, or a negative amount.
    """
    cleaned = unicodedata.normalize("NFKC", text or "").strip()
    cleaned = re.sub(r"[\s,¥￥元]|RMB|CNY", "", cleaned, flags=re.IGNORECASE)
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation as error:
        raise ValueError("not a number") from error
    if not value.is_finite() or value < 0 or value > Decimal(10) ** 12:
        raise ValueError("bad amount")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("more than 2 decimals")
    return int(value * 100)


def parse_phone(text: str, region: str) -> str:
    """E.164 for a number typed with a region choice; raises ValueError when invalid."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    try:
        number = phonenumbers.parse(text, None if region == "ZZ" else region)
    except phonenumbers.NumberParseException as error:
        raise ValueError("unparseable") from error
    if not phonenumbers.is_valid_number(number):
        raise ValueError("invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ClaimForm(PortalForm):
    """The one form for every claim, complaint and question."""

    submission_token = HiddenField()
    type = ChoiceField(_l("What happened?"), choices=[(t.value, TYPE_LABELS[t]) for t in CaseType],
                       validators=[InputRequired(_l("Choose what happened."))])
    kind = ChoiceField(_l("What would you like?"), default="",
                       choices=[("", _l("Decide from what happened"))]
                       + [(k.value, KIND_LABELS[k]) for k in CaseKind])
    tracking_number = StringField(_l("Tracking number"), validators=[Length(max=60)])
    customer_name = StringField(_l("Your name"), validators=[
        DataRequired(_l("Enter your name.")), Length(max=80, message=_l("At most 80 characters."))])
    phone_region = ChoiceField(_l("Phone region"), choices=PHONE_REGIONS, default="CN")
    phone = StringField(_l("Mobile phone"), validators=[DataRequired(_l("Enter your mobile phone number."))])  # noqa: E501
    email = StringField(_l("Email (optional)"), validators=[Optional(), Length(max=254)])
    description = TextAreaField(_l("What happened, in your words"), validators=[
        DataRequired(_l("Tell us what happened.")),
        Length(min=10, max=4000, message=_l("Between 10 and 4,000 characters."))])
    service_line = ChoiceField(_l("Service (if you know it)"), default="")
    claimed = StringField(_l("Amount you claim (yuan)"))
    declared_value = StringField(_l("Declared value (yuan)"))
    insured = BooleanField(_l("The parcel was insured (declared value paid for)"))
    freight = StringField(_l("Freight paid (yuan)"))
    damaged_percent = IntegerField(_l("Share damaged or missing (%)"), validators=[
        Optional(), NumberRange(0, 100, _l("Enter a percentage from 0 to 100."))])
    evidence = MultipleFileField(_l("Photos or documents"))
    preferred_channel = RadioChoiceField(_l("How should we contact you?"), choices=CHANNELS,
                                   default="sms")
    language = ChoiceField(_l("Language for our messages"),
                           choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])
    consent = BooleanField(_l("I agree that my details are used to handle this case, as the privacy notice describes."),  # noqa: E501
                           validators=[DataRequired(_l("Your consent is needed to handle the case."))])  # noqa: E501

    def __init__(self, *args, **kwargs):
        """Fill the service lines from the configuration."""
        super().__init__(*args, **kwargs)
        lines = current_app.config.get("CASES_SERVICE_LINES", ["standard", "express"])
        self.service_line.choices = [("", _l("Not sure"))] + [(line, line) for line in lines]
        self.phone_e164: str | None = None
        self.amounts: dict[str, int | None] = {}

    def _amount(self, field, name: str, required: bool, message) -> None:
        maximum = int(current_app.config.get("CASES_MAX_AMOUNT_YUAN", 1_000_000)) * 100
        try:
            value = parse_yuan(field.data)
        except ValueError:
            field.errors.append(_l("Enter an amount in yuan, e.g. 128.50."))
            return
        if value is not None and value > maximum:
            field.errors.append(_l("That amount is higher than we can accept online; call us."))
            return
        if value is None and required:
            field.errors.append(message)
        self.amounts[name] = value

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the checks that depend on the type of case."""
        ok = super().validate(extra_validators)
        errors_before = sum(len(f.errors) for f in self)
        case_type = self.type.data
        number = normalise_tracking(self.tracking_number.data)
        self.tracking_number.data = number
        if case_type != CaseType.OTHER and not number:
            self.tracking_number.errors.append(_l("Enter the tracking number."))
        elif number and (problem := tracking_problem(number)):
            self.tracking_number.errors.append(problem)
        if self.phone.data:
            try:
                self.phone_e164 = parse_phone(self.phone.data, self.phone_region.data)
            except ValueError:
                self.phone.errors.append(_l("Enter a valid mobile number for the region chosen."))
        if self.email.data:
            try:
                self.email.data = validate_email(self.email.data.strip(),
                                                 check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                self.email.errors.append(_l("Enter a valid email address."))
        if self.preferred_channel.data == "email" and not self.email.data:
            self.email.errors.append(_l("Give an email address to be contacted by email."))
        is_claim = case_type in CLAIM_TYPES
        insured = bool(self.insured.data) and is_claim
        self._amount(self.claimed, "claimed", case_type in (CaseType.LOSS, CaseType.DAMAGE),
                     _l("Enter the value you claim."))
        self._amount(self.declared_value, "declared_value", insured and case_type in (
            CaseType.LOSS, CaseType.DAMAGE), _l("Enter the declared value of the insured parcel."))
        self._amount(self.freight, "freight", case_type in (CaseType.DELAY, CaseType.LOSS),
                     _l("Enter the freight you paid (it is on your receipt)."))
        if not is_claim:  # amounts mean nothing for complaints and questions
            self.amounts = {"claimed": None, "declared_value": None, "freight": None}
        kind = self.kind.data
        if kind == CaseKind.CLAIM and not is_claim:
            self.kind.errors.append(_l("Compensation can be claimed for a delay, a loss, damage or a wrong delivery."))  # noqa: E501
        files = [f for f in (self.evidence.data or []) if getattr(f, "filename", "")]
        limit = int(current_app.config.get("CASES_EVIDENCE_MAX_FILES", 5))
        if len(files) > limit:
            self.evidence.errors.append(_l("At most %(n)d files.", n=limit))
        return ok and sum(len(f.errors) for f in self) == errors_before

    def derived_kind(self) -> str:
        """The kind chosen, else the one that follows from the type."""
        if self.kind.data:
            return self.kind.data
        if self.type.data in CLAIM_TYPES:
            return CaseKind.CLAIM
        if self.type.data in COMPLAINT_TYPES:
            return CaseKind.COMPLAINT
        return CaseKind.ENQUIRY


class VerifyForm(PortalForm):
    """Reference and last 4 digits of the phone."""

    reference = StringField(_l("Case reference"), validators=[
        DataRequired(_l("Enter the reference, e.g. CS-7K3M-Q9TX.")), Length(max=40)])
    digits = StringField(_l("Last 4 digits of your phone number"), validators=[
        DataRequired(_l("Enter the last 4 digits.")), Length(max=12)])


class RecoverForm(PortalForm):
    """"I lost my reference": a phone or email."""

    contact = StringField(_l("Your phone number or email address"), validators=[
        DataRequired(_l("Enter a phone number or an email address.")), Length(max=254)])


class MessageForm(PortalForm):
    """The customer adds information or files."""

    body = TextAreaField(_l("Add information"), validators=[Length(max=4000)])
    evidence = MultipleFileField(_l("Add photos or documents"))


class AnswerForm(PortalForm):
    """Accept or decline an offer."""

    answer = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("If you decline, tell us why"), validators=[Length(max=2000)])


class RatingForm(PortalForm):
    """A 1-5 rating and an optional comment."""

    score = RadioField(_l("How satisfied are you with how we handled your case?"),
                       choices=[(str(n), str(n)) for n in range(1, 6)],
                       validators=[InputRequired(_l("Choose a score from 1 to 5."))])
    comment = TextAreaField(_l("Anything you want to tell us? (optional)"),
                            validators=[Length(max=2000)])


class StaffReplyForm(PortalForm):
    """A public reply or an internal note."""

    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=8000)])
    internal = BooleanField(_l("Internal note (never shown to the customer)"))
    wait = BooleanField(_l("Wait for the customer's answer"))


class OfferForm(PortalForm):
    """Offer an amount."""

    amount = StringField(_l("Amount (yuan)"), validators=[DataRequired()])
    reason = TextAreaField(_l("Why (logged)"), validators=[DataRequired(), Length(max=2000)])


class PaymentForm(PortalForm):
    """Record a payment."""

    paid_on = DateField(_l("Paid on"), validators=[DataRequired()])
    method = SelectField(_l("Method"), choices=[("bank_transfer", _l("Bank transfer")),
                                                 ("alipay", "Alipay"), ("wechat_pay", "WeChat Pay"),
                                                 ("cash", _l("Cash")), ("other", _l("Other"))])
    reference = StringField(_l("Payment reference"), validators=[DataRequired(), Length(max=80)])


class StateForm(PortalForm):
    """Change the state of a case."""

    state = SelectField(_l("New state"), choices=[
        ("open", _l("Open")), ("waiting_customer", _l("Waiting for the customer")),
        ("resolved", _l("Resolved")), ("closed", _l("Closed"))])
    reason = StringField(_l("Why (logged)"), validators=[Length(max=500)])
