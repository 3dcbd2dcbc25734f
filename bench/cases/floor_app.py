"""The stack's floor for the claim benchmark: the least a Flask app on the portal's stack
does to take the same GET + POST (served by ``bench/cases/floor.py``).

Flask, Flask-WTF (CSRF, a form with the claim form's 20 fields and validators, the
multipart body), the signed session cookie, one SQLAlchemy Core INSERT in its own
transaction, a 303. No i18n, policy, routing, notifications, idempotency or history.
``FLOOR_GET=static`` answers the GET with the two tokens only (the portal renders its
blank form once per language and process and puts the tokens in per request);
otherwise the GET renders the form with WTForms and Jinja, as a plain Flask-WTF view does.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, redirect, render_template_string, request, session
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

app = Flask(__name__)
app.config["SECRET_KEY"] = "floor-" + "x" * 40
CSRFProtect(app)
engine = create_engine(os.environ["FLOOR_DATABASE_URL"])
metadata = MetaData()
cases = Table(
    "customer_case", metadata, Column("id", Integer, primary_key=True),
    Column("reference", String(40)), Column("tracking_number", String(60)),
    Column("customer_name", String(80)), Column("phone", String(40)), Column("email", String(254)),
    Column("description", Text), Column("type", String(20)))
INSERT = cases.insert()
STATIC_GET = os.environ.get("FLOOR_GET") == "static"


class ClaimForm(FlaskForm):
    """The claim form's fields (labels shortened)."""

    submission_token = HiddenField()
    type = SelectField("Type", choices=[("delay", "Delay"), ("loss", "Loss")],
                       validators=[InputRequired()])
    kind = SelectField("Kind", default="", choices=[("", "Auto"), ("claim", "Claim")])
    tracking_number = StringField("Tracking number", validators=[Length(max=60)])
    customer_name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    phone_region = SelectField("Region", choices=[("CN", "CN"), ("HK", "HK")], default="CN")
    phone = StringField("Phone", validators=[DataRequired()])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    description = TextAreaField("What happened", validators=[DataRequired(), Length(10, 4000)])
    service_line = SelectField("Service", default="", choices=[("", "?"), ("standard", "Std")])
    claimed = StringField("Claimed")
    declared_value = StringField("Declared value")
    insured = BooleanField("Insured")
    freight = StringField("Freight")
    damaged_percent = IntegerField("Damaged %", validators=[Optional(), NumberRange(0, 100)])
    evidence = MultipleFileField("Evidence")
    preferred_channel = RadioField("Channel", choices=[("sms", "SMS"), ("email", "Email")],
                                   default="sms")
    language = SelectField("Language", choices=[("zh_Hans", "zh"), ("en", "en")])
    consent = BooleanField("Consent", validators=[DataRequired()])


PAGE = """<form method="post" enctype="multipart/form-data">
<input name="csrf_token" value="{{ csrf_token() }}" type="hidden">
{{ form.submission_token(type="hidden") }}
{% for field in form if field.name not in ("csrf_token", "submission_token") %}
<p>{{ field.label }} {{ field() }}</p>{% endfor %}</form>"""


@app.route("/claims/new", methods=["GET", "POST"])
def new():
    """The form; a valid POST writes one row and redirects."""
    if request.method == "GET" and STATIC_GET:
        token = secrets.token_urlsafe(16)
        return (f'<input name="csrf_token" value="{generate_csrf()}" type="hidden">'
                f'<input name="submission_token" type="hidden" value="{token}">')
    form = ClaimForm()
    if form.validate_on_submit():
        reference = "CS-" + secrets.token_hex(4).upper()
        with engine.begin() as conn:
            conn.execute(INSERT, {
                "reference": reference, "tracking_number": form.tracking_number.data,
                "customer_name": form.customer_name.data, "phone": form.phone.data,
                "email": form.email.data, "description": form.description.data,
                "type": form.type.data})
        session["case"] = reference
        return redirect(f"/claims/{reference}/received", 303)
    if form.errors:
        return str(form.errors), 422
    form.submission_token.data = secrets.token_urlsafe(16)
    return render_template_string(PAGE, form=form)
