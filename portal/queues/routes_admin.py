"""Supervisors' settings pages: queues and members, routing rules, SLA policies, business
calendars (holidays and make-up days), escalation keywords, canned replies."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import db
from portal.queues import admin, calendars, lookups, routing
from portal.queues.forms import (
    CalendarDayForm,
    CalendarForm,
    CannedForm,
    KeywordForm,
    QueueForm,
    RuleForm,
    SlaForm,
)
from portal.queues.models import (
    BusinessCalendar,
    EscalationKeyword,
    RoutingRule,
)
from portal.queues.routes_work import bp
from portal.queues.signals import keywords as active_keywords
from portal.staff.permissions import require_permission


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _queue_choices(empty: bool = True) -> list[tuple[str, str]]:
    return ([("", "—")] if empty else []) + [(q.slug, q.slug) for q in lookups.ordered_queues()]


@bp.get("/queues/settings")
@require_permission("queues.manage")
def settings():
    """Everything a supervisor configures, on one page."""
    sla_form = SlaForm()
    sla_form.queue.choices = _queue_choices(False)
    return render_template(
        "queues/settings.html", **lookups.settings_overview(),
        missing=calendars.missing_years(), builtin_keywords=active_keywords(),
        sla_form=sla_form, keyword_form=KeywordForm(), calendar_form=CalendarForm(
            data={"hours": calendars.hours_text(calendars.DEFAULT_HOURS)}))


@bp.route("/queues/settings/queue", methods=["GET", "POST"], defaults={"slug": None})
@bp.route("/queues/settings/queue/<slug>", methods=["GET", "POST"])
@require_permission("queues.manage")
def edit_queue(slug: str | None):
    """Create or edit a queue."""
    queue = None
    if slug:
        queue = routing.queue_by_slug(slug) or abort(404)
    form = QueueForm(obj=None)
    form.calendar.choices = [("", "—"), *lookups.calendar_choices()]
    form.lead.choices = [("", "—"), *lookups.active_staff_choices()]
    if request.method == "GET" and queue is not None:
        form.slug.data, form.strategy.data = queue.slug, queue.strategy
        form.name_zh_hans.data = (queue.name or {}).get("zh_Hans", "")
        form.name_en.data = (queue.name or {}).get("en", "")
        form.calendar.data = str(queue.calendar_id or "")
        form.lead.data = str(queue.lead_id or "")
        form.members.data = ", ".join(m.user.email for m in queue.members)
        form.position.data, form.is_fallback.data = queue.position, queue.is_fallback
        form.is_escalation.data = queue.is_escalation
    if request.method == "POST" and form.validate():
        try:
            saved = admin.save_queue(
                queue, slug=form.slug.data, name_zh_hans=form.name_zh_hans.data or "",
                name_en=form.name_en.data, strategy=form.strategy.data,
                calendar_id=_int_or_none(form.calendar.data), lead_id=_int_or_none(form.lead.data),
                member_emails=[e.lower() for e in admin.split(form.members.data)],
                position=form.position.data, is_fallback=bool(form.is_fallback.data),
                is_escalation=bool(form.is_escalation.data), actor=current_user)
        except admin.AdminError as error:
            db.session.rollback()
            target = form.members if error.code == "members" else form.slug
            target.errors.append(_("Not saved: %(what)s", what=error.detail or error.code))
        else:
            slug = saved.slug
            db.session.commit()
            flash(_("Queue saved."), "success")
            return redirect(url_for(".queue", slug=slug), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("queues/edit_queue.html", form=form, queue=queue), status


def _fill_rule(form: RuleForm, rule: RoutingRule) -> None:
    c, a = rule.conditions or {}, rule.actions or {}
    form.name.data, form.position.data, form.enabled.data = rule.name, rule.position, rule.enabled
    for name in ("kind", "type", "origin_region", "destination_region", "language", "keywords"):
        getattr(form, name).data = ", ".join(c.get(name, []))
    incident = c.get("incident")
    form.incident.data = incident if isinstance(incident, str) else ", ".join(incident or [])
    for key, field in (("amount_min_fen", form.amount_min), ("amount_max_fen", form.amount_max)):
        field.data = f"{c[key] / 100:g}" if c.get(key) is not None else ""
    form.earlier_cases_min.data = c.get("earlier_cases_min")
    form.queue.data, form.priority.data = a.get("queue") or "", str(a.get("priority") or 3)
    form.tags.data = ", ".join(a.get("tags", []))


@bp.route("/routing/rules/new", methods=["GET", "POST"], defaults={"rule_id": None})
@bp.route("/routing/rules/<int:rule_id>", methods=["GET", "POST"])
@require_permission("queues.manage")
def edit_rule(rule_id: int | None):
    """Create or edit a routing rule."""
    rule = db.session.get(RoutingRule, rule_id) if rule_id else None
    if rule_id and rule is None:
        abort(404)
    form = RuleForm()
    form.queue.choices = _queue_choices()
    if request.method == "GET" and rule is not None:
        _fill_rule(form, rule)
    if request.method == "POST" and form.validate():
        try:
            conditions, actions = admin.rule_from_form(form)
            admin.save_rule(rule, name=form.name.data, position=form.position.data or 0,
                            enabled=bool(form.enabled.data), conditions=conditions,
                            actions=actions, actor=current_user)
        except admin.AdminError as error:
            db.session.rollback()
            field = form.amount_min if error.code == "amount" else form.queue
            field.errors.append(_("Not saved: %(what)s", what=error.detail or error.code))
        else:
            db.session.commit()
            flash(_("Rule saved."), "success")
            return redirect(url_for(".settings"), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("queues/edit_rule.html", form=form, rule=rule), status


@bp.post("/routing/rules/<int:rule_id>/delete")
@require_permission("queues.manage")
def delete_rule(rule_id: int):
    """Remove a rule."""
    rule = db.session.get(RoutingRule, rule_id) or abort(404)
    admin.delete_rule(rule, current_user)
    db.session.commit()
    return redirect(url_for(".settings"), 303)


@bp.post("/queues/settings/sla")
@require_permission("queues.manage")
def save_sla():
    """Create or update a queue's SLA policy for one priority."""
    form = SlaForm()
    form.queue.choices = _queue_choices(False)
    queue = routing.queue_by_slug(form.queue.data)
    if not form.validate() or queue is None:
        flash(_("Check the SLA targets."), "error")
        return redirect(url_for(".settings"), 303)
    actions = [name for name in ("notify_lead", "raise_priority", "move_escalation")
               if getattr(form, name).data]
    admin.save_sla(queue, int(form.priority.data), form.first_response_minutes.data,
                   form.resolution_minutes.data, form.at_risk_percent.data, actions, current_user)
    db.session.commit()
    flash(_("SLA policy saved."), "success")
    return redirect(url_for(".settings"), 303)


@bp.post("/queues/settings/keywords")
@require_permission("queues.manage")
def add_keyword():
    """Add an escalation keyword."""
    form = KeywordForm()
    if form.validate():
        admin.add_keyword(form.language.data, form.keyword.data, form.tag.data,
                          int(form.priority.data), current_user)
        db.session.commit()
        flash(_("Keyword saved."), "success")
    else:
        flash(_("Check the keyword."), "error")
    return redirect(url_for(".settings"), 303)


@bp.post("/queues/settings/keywords/<int:keyword_id>/disable")
@require_permission("queues.manage")
def disable_keyword(keyword_id: int):
    """Stop using a keyword."""
    row = db.session.get(EscalationKeyword, keyword_id) or abort(404)
    admin.disable_keyword(row, current_user)
    db.session.commit()
    return redirect(url_for(".settings"), 303)


@bp.route("/queues/settings/canned", methods=["GET", "POST"], defaults={"slug": None})
@bp.route("/queues/settings/canned/<slug>", methods=["GET", "POST"])
@require_permission("queues.manage")
def edit_canned(slug: str | None):
    """Create or edit a canned reply."""
    reply = None
    if slug:
        reply = lookups.canned_by_slug(slug) or abort(404)
    form = CannedForm()
    if request.method == "GET" and reply is not None:
        form.slug.data, form.title.data = reply.slug, reply.title
        body = reply.body or {}
        form.body_zh_hans.data, form.body_en.data = body.get("zh_Hans", ""), body.get("en", "")
        form.body_zh_hant.data = body.get("zh_Hant", "")
    if request.method == "POST" and form.validate():
        try:
            admin.save_canned(reply, slug=form.slug.data, title=form.title.data,
                              zh_hans=form.body_zh_hans.data or "",
                              zh_hant=form.body_zh_hant.data or "", en=form.body_en.data or "",
                              actor=current_user)
        except admin.AdminError:
            db.session.rollback()
            form.slug.errors.append(_("That short name is taken."))
        else:
            db.session.commit()
            flash(_("Canned reply saved."), "success")
            return redirect(url_for(".settings"), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("queues/edit_canned.html", form=form, reply=reply), status


@bp.post("/calendars")
@require_permission("queues.manage")
def create_calendar():
    """A new business calendar, pre-filled from the package."""
    form = CalendarForm()
    try:
        if not form.validate():
            raise calendars.CalendarError("form")
        hours = calendars.parse_hours(form.hours.data)
        calendar = calendars.create_calendar(form.name.data.strip(), hours, form.timezone.data)
    except calendars.CalendarError:
        db.session.rollback()
        flash(_("Check the name, the time zone and the working hours."), "error")
        return redirect(url_for(".settings"), 303)
    calendar_id = calendar.id
    db.session.commit()
    return redirect(url_for(".calendar", calendar_id=calendar_id), 303)


@bp.route("/calendars/<int:calendar_id>", methods=["GET", "POST"])
@require_permission("queues.manage")
def calendar(calendar_id: int):
    """A calendar: working hours, holidays and make-up days (add, correct, remove)."""
    cal = db.session.get(BusinessCalendar, calendar_id) or abort(404)
    day_form = CalendarDayForm(prefix="day")
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "")
        if action == "day" and day_form.validate():
            calendars.set_day(cal, day_form.day.data, day_form.kind.data, day_form.name.data,
                              current_user)
            db.session.commit()
            return redirect(url_for(".calendar", calendar_id=calendar_id), 303)
        if action == "remove":
            from datetime import date

            try:
                day = date.fromisoformat(request.form.get("day", ""))
            except ValueError:
                abort(400)
            calendars.remove_day(cal, day, current_user)
            db.session.commit()
            return redirect(url_for(".calendar", calendar_id=calendar_id), 303)
        if action == "prefill":
            year = request.form.get("year", "")
            if year.isdigit() and 2000 <= int(year) <= 2100:
                added = calendars.prefill(cal, [int(year)])
                db.session.commit()
                if not added.get(int(year)):
                    flash(_("The package has no data for %(year)s: enter the days yourself.",
                            year=year), "error")
            return redirect(url_for(".calendar", calendar_id=calendar_id), 303)
        status = 422
    return render_template("queues/calendar.html", calendar=cal, day_form=day_form,
                           hours=calendars.hours_text(cal.hours),
                           missing=[y for n, y in calendars.missing_years() if n == cal.name]
                           ), status
