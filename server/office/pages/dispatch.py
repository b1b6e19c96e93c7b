"""Dispatch pages: the board, fault intake, the job sheet with assign / cancel / correct."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from litestar import get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from sync_protocol import Equipment, Forbidden, InvalidValue, NotFound, ProtocolError, Unauthorized, job_name
from sync_protocol.codec import convert
from sync_protocol.i18n import N_
from sync_protocol.office import IntakeRequest
from sync_protocol.warranty import covered_on

from ... import assign as assign_module
from .. import jobs, refdata, sheet
from ..access import DISPATCH, principal, server_state
from ..filters import from_local_input
from ..journal import config, office_write
from ..worker import in_thread
from ..i18n import catalogs, gettext_of, locale_of
from .common import AnyRequest, Page, PageNumber, edit_message, flash, pages, render, user_names
from ...storage import records as store


# --- dispatch ---------------------------------------------------------------------------------


@get("/board")
async def board_page(
    request: AnyRequest,
    all: FromQuery[bool] = False,
    status: FromQuery[list[str] | None] = None,
    severity: FromQuery[list[str] | None] = None,
    engineer: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    site: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
) -> Page:
    state = server_state(request)
    statuses = ["all"] if all else (status or [])
    where = jobs.board_filter(
        statuses, severity or (), engineer or "", customer or "", site or "", q or "", default=jobs.WORKING
    )

    def gather(conn: Any) -> dict[str, Any]:
        return {
            "jobs": jobs.board(conn, where=where),
            "engineers": jobs.engineers(conn),
            "customers": refdata.list_records(conn, "customer"),
            "sites": refdata.list_records(conn, "site"),
        }

    data = await in_thread(lambda: state.db.read(gather))
    return await render(
        request,
        "board.html",
        section="board",
        where=where,
        shown_status=(statuses[0] if len(statuses) == 1 else ""),
        status_order=jobs.STATUS_ORDER,
        **data,
    )


@get("/schedule")
async def schedule_page(request: AnyRequest) -> Page:
    """Who is free: each engineer's open jobs due today and this week, by deadline."""
    state = server_state(request)
    zone = config(state).office.zone
    loads, unassigned = await in_thread(lambda: state.db.read(lambda c: jobs.engineer_loads(c, zone)))
    return await render(request, "schedule.html", section="schedule", loads=loads, unassigned=unassigned)


def _intake_choices(conn: Any, zone: dt.tzinfo) -> dict[str, Any]:
    equipment = refdata.list_records(conn, "equipment", limit=100_000)
    return {
        "customers": refdata.list_records(conn, "customer"),
        "sites": refdata.list_records(conn, "site"),
        "equipment": equipment,
        "warranty": {
            e.id: covered_on(e, dt.datetime.now(zone).date()) for e, _ in equipment if isinstance(e, Equipment)
        },
        "open_jobs": jobs.open_jobs_by_equipment(conn),
        "loads": jobs.engineer_loads(conn, zone)[0],
    }


@get("/jobs/new", opt={"roles": DISPATCH})
async def intake_form(request: AnyRequest) -> Page:
    state = server_state(request)
    zone = config(state).office.zone
    choices = await in_thread(lambda: state.db.read(lambda c: _intake_choices(c, zone)))
    return await render(
        request, "intake.html", section="intake", values={}, error="", policy=config(state).severity, **choices
    )


def _intake_request(form: Mapping[str, Any], equipment_ids: list[str], zone: dt.tzinfo) -> IntakeRequest:
    data: dict[str, Any] = {
        k: str(form.get(k, "")).strip()
        for k in ("customer_id", "site_id", "fault", "severity", "reported_by", "reported_at", "assignee")
    }
    data["equipment_ids"] = [e for e in equipment_ids if e]
    try:
        data["severity"] = int(data["severity"] or 0)
    except ValueError:
        raise InvalidValue(N_("severity is a level 1-4"), field="severity") from None
    if data["reported_at"]:
        try:  # typed on the office's wall clock (config.toml), stored in UTC
            data["reported_at"] = from_local_input(data["reported_at"], zone).isoformat()
        except ValueError:
            raise InvalidValue(N_("reported at: a date and time, please"), field="reported_at") from None
    for optional in ("reported_at", "assignee"):
        if not data[optional]:
            data.pop(optional)
    return convert(data, IntakeRequest)


@post("/jobs", opt={"roles": DISPATCH}, status_code=303)
async def intake_submit(request: AnyRequest) -> Page | Redirect:
    form = await request.form()
    state, who = server_state(request), principal(request)
    zone = config(state).office.zone
    try:
        intake = _intake_request(form, form.getall("equipment_ids") if "equipment_ids" in form else [], zone)

        def work(conn: Any) -> tuple[Any, dict[str, list[str]]]:
            already = jobs.open_jobs_by_equipment(conn)  # before this job is one of them
            return jobs.intake(conn, who, intake, config(state), state.clock), already

        job, already = await in_thread(lambda: office_write(state, who, "office.intake", work))
    except (InvalidValue, NotFound) as exc:
        choices = await in_thread(lambda: state.db.read(lambda c: _intake_choices(c, zone)))
        return await render(
            request,
            "intake.html",
            status=422,
            section="intake",
            values=dict(form),
            error=exc.message,
            policy=config(state).severity,
            **choices,
        )
    fmt, _ = catalogs(zone.key).formats(locale_of(request)), gettext_of(request)
    flash(
        request,
        _("Job {number} created: respond by {respond}, on site by {onsite}; warranty {warranty}.").format(
            number=job_name(job.number, job.id),
            respond=fmt.when(job.respond_by),
            onsite=fmt.when(job.onsite_by),
            warranty=_(job.warranty),
        ),
    )
    for equipment_id in job.equipment_ids:
        if already.get(equipment_id):
            jobs_open = ", ".join(already[equipment_id])
            flash(
                request,
                N_("{equipment} already has an open job: {jobs}.", equipment=equipment_id, jobs=jobs_open),
                "warn",
            )
    return Redirect(f"/office/jobs/{job.id}", status_code=303)


EVENTS_PER_PAGE = 500  # a sheet longer than this (thousands of notes) is shown a page at a time


@get("/jobs/{job_id:str}")
async def job_page(request: AnyRequest, job_id: FromPath[str], page: PageNumber = 1) -> Page:
    state = server_state(request)
    zone = config(state).office.zone

    def gather(conn: Any) -> dict[str, Any]:
        job_sheet = sheet.job_sheet(conn, job_id)
        cut = pages(len(job_sheet.events), EVENTS_PER_PAGE, page)
        return {
            "sheet": job_sheet,
            "summary": jobs.job_summary(conn, job_id),
            "cut": cut,
            "events": job_sheet.events[cut["start"] : cut["end"]],
            "loads": jobs.engineer_loads(conn, zone)[0],
            "users": user_names(conn),
        }

    data = await in_thread(lambda: state.db.read(gather))
    return await render(request, "sheet.html", section="board", hlc_time=sheet.hlc_time, **data)


async def _job_action(request: AnyRequest, job_id: FromPath[str], kind: str, action: Callable[[Any], str]) -> Redirect:
    state, who = server_state(request), principal(request)
    try:
        message = await in_thread(lambda: office_write(state, who, kind, action))
        flash(request, message)
    except (Unauthorized, Forbidden):
        raise
    except ProtocolError as exc:
        flash(request, exc.message, "error")
    return Redirect(f"/office/jobs/{job_id}", status_code=303)


@post("/jobs/{job_id:str}/assign", opt={"roles": DISPATCH}, status_code=303)
async def assign_submit(request: AnyRequest, job_id: FromPath[str]) -> Redirect:
    form = await request.form()
    state, who, assignee = server_state(request), principal(request), str(form.get("assignee", ""))

    def action(conn: Any) -> str:
        assign_module.assign(conn, who, job_id, assignee, state.clock)
        job = store.get(conn, "job", job_id).record  # type: ignore[union-attr]
        return N_("Job {number} assigned to {name}.", number=job_name(job.number, job.id), name=job.assignee_name)

    return await _job_action(request, job_id, "office.assign", action)


@post("/jobs/{job_id:str}/cancel", opt={"roles": DISPATCH}, status_code=303)
async def cancel_submit(request: AnyRequest, job_id: FromPath[str]) -> Redirect:
    state, who = server_state(request), principal(request)
    return await _job_action(
        request,
        job_id,
        "office.cancel",
        lambda c: N_("Job {number} cancelled.", number=_named(jobs.cancel(c, who, job_id, state.clock))),
    )


def _named(job: Any) -> str:
    return job_name(job.number, job.id)


@get("/jobs/{job_id:str}/edit", opt={"roles": DISPATCH})
async def job_edit_form(request: AnyRequest, job_id: FromPath[str]) -> Page:
    state = server_state(request)
    summary = await in_thread(lambda: state.db.read(lambda c: jobs.job_summary(c, job_id)))
    return await render(request, "job_edit.html", section="board", job=summary, error="")


@post("/jobs/{job_id:str}/edit", opt={"roles": DISPATCH}, status_code=303)
async def job_edit_submit(request: AnyRequest, job_id: FromPath[str]) -> Page | Redirect:
    form = await request.form()
    state, who = server_state(request), principal(request)
    error: str
    try:
        base = int(str(form.get("base_version", "0")))
        severity = int(str(form.get("severity", "0")))
        if severity not in (1, 2, 3, 4):
            raise InvalidValue(N_("severity is a level 1-4"), field="severity")
        original = {"fault": str(form.get("_orig_fault", "")), "severity": str(form.get("_orig_severity", ""))}
        fault = str(form.get("fault", "")).replace("\r\n", "\n").strip()
        reply = await in_thread(
            lambda: office_write(
                state,
                who,
                "office.edit",
                lambda c: jobs.edit_job(
                    c,
                    who,
                    state.clock,
                    config(state),
                    job_id,
                    base,
                    fault if fault != original["fault"].replace("\r\n", "\n").strip() else None,
                    severity if str(severity) != original["severity"] else None,
                ),
            )
        )
    except ValueError:
        reply, error = None, N_("severity and version are numbers")
    except InvalidValue as exc:
        reply, error = None, exc.message
    if reply is None:
        summary = await in_thread(lambda: state.db.read(lambda c: jobs.job_summary(c, job_id)))
        return await render(request, "job_edit.html", status=422, section="board", job=summary, error=error)
    _ = gettext_of(request)
    level, message = edit_message(request, reply, _("Job"))
    flash(request, message, level)
    return Redirect(f"/office/jobs/{job_id}", status_code=303)
