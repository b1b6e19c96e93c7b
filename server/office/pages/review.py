"""Review pages: the conflict queue, the supervisor's backup audit, stored files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream

from sync_protocol import Forbidden, InvalidValue, NotFound, ProtocolError, Unauthorized, job_name
from sync_protocol.bounds import MAX_COMMENT
from sync_protocol.i18n import N_

from ... import blobstore
from ...headers import FILE_POLICY
from .. import audit_report, audit_trend, conflict_queue, jobs, refdata, reviews, sheet
from ..access import AUDIT, DISPATCH, REVIEW, principal, server_state
from ..journal import config, office_write
from ..worker import in_thread
from ..api import csv_response, sheet_url_of
from ..i18n import gettext_of, office_zone
from .common import AnyRequest, Page, PageNumber, flash, pages, render, safe_next, user_names
from ...storage import blobs as blob_rows
from ...storage import records as store


_INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


# --- conflicts --------------------------------------------------------------------------------


CONFLICTS_PER_PAGE = 50


@get("/conflicts")
async def conflicts_page(request: AnyRequest, status: FromQuery[str] = "open", page: PageNumber = 1) -> Page:
    state = server_state(request)
    wanted = None if status == "all" else ("resolved" if status == "resolved" else "open")

    def gather(conn: Any) -> dict[str, Any]:
        cut = pages(conflict_queue.count_conflicts(conn, wanted), CONFLICTS_PER_PAGE, page)
        rows = conflict_queue.list_conflicts(conn, wanted, limit=CONFLICTS_PER_PAGE, offset=cut["start"])
        numbers = {
            job_id: found.record
            for job_id in {c.job_id for c, _ in rows if c.job_id}
            if (found := store.get(conn, "job", job_id))
        }
        people = user_names(conn)
        parts = jobs.names_of(conn, ("part",))
        told = {c.id: conflict_queue.in_words(c, parts, people) for c, _ in rows}
        return {"conflicts": rows, "users": people, "jobs": numbers, "cut": cut, "told": told}

    data = await in_thread(lambda: state.db.read(gather))
    return await render(request, "conflicts.html", section="conflicts", shown=status, hlc_time=sheet.hlc_time, **data)


@post("/conflicts/{conflict_id:str}/resolve", opt={"roles": DISPATCH}, status_code=303)
async def resolve_submit(request: AnyRequest, conflict_id: FromPath[str]) -> Redirect:
    form = await request.form()
    state, who, resolution = server_state(request), principal(request), str(form.get("resolution", ""))
    try:
        reply = await in_thread(
            lambda: office_write(
                state,
                who,
                "office.resolve",
                lambda c: conflict_queue.resolve(c, who, state.clock, conflict_id, resolution, config=config(state)),
            )
        )
        _ = gettext_of(request)
        flash(
            request,
            _("Conflict resolved, the rule's result accepted.")
            if resolution == "accepted"
            else _("Conflict resolved, overridden: {field} is now {value!r}.").format(
                field=reply.conflict.field, value=reply.conflict.other
            ),
        )
    except (Unauthorized, Forbidden):
        raise
    except ProtocolError as exc:
        flash(request, exc.message, "error")
    return Redirect("/office/conflicts", status_code=303)


async def _conflict_action(request: AnyRequest, kind: str, action: Any) -> Redirect:
    state, who = server_state(request), principal(request)
    try:
        message = await in_thread(lambda: office_write(state, who, kind, lambda c: action(c, who, state.clock)))
        flash(request, message)
    except (Unauthorized, Forbidden):
        raise
    except ProtocolError as exc:
        flash(request, exc.message, "error")
    return Redirect("/office/conflicts", status_code=303)


@post("/conflicts/{conflict_id:str}/resign", opt={"roles": DISPATCH}, status_code=303)
async def resign_submit(request: AnyRequest, conflict_id: FromPath[str]) -> Redirect:
    """Ask the engineer to have the sheet signed again (a flag on the job, synced to the laptop)."""

    def action(conn: Any, who: Any, clock: Any) -> str:
        reply = conflict_queue.request_resign(conn, who, clock, conflict_id)
        job = store.get(conn, "job", reply.conflict.job_id or reply.conflict.record_id)
        engineer = (user_names(conn).get(job.record.assignee or "") if job else None) or N_("the engineer")
        number = job_name(job.record.number, job.record.id) if job else reply.conflict.record_id
        return N_("{engineer} is asked to have the sheet of {number} signed again.", engineer=engineer, number=number)

    return await _conflict_action(request, "office.resign_request", action)


@post("/conflicts/{conflict_id:str}/stock", opt={"roles": DISPATCH}, status_code=303)
async def stock_submit(request: AnyRequest, conflict_id: FromPath[str]) -> Redirect:
    """Correct a stock deficit to what was counted on the shelf."""
    form = await request.form()
    text = str(form.get("counted", "")).strip()

    def action(conn: Any, who: Any, clock: Any) -> str:
        try:
            counted = int(text)
        except ValueError:
            raise InvalidValue(N_("counted: a whole number, what is on the shelf"), field="counted") from None
        reply = conflict_queue.correct_stock(conn, who, clock, conflict_id, counted)
        names, people = jobs.names_of(conn, ("part",)), user_names(conn)
        row = refdata.stock_name(reply.conflict.record_id, names, people)
        return N_("Stock corrected: {row} is now {counted}.", row=row, counted=counted)

    return await _conflict_action(request, "office.stock_correct", action)


# --- audit ------------------------------------------------------------------------------------


def _date(text: str | None, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidValue(N_("{field}: a date as YYYY-MM-DD", field=field), field=field) from None


@get("/audit", opt={"roles": AUDIT})
async def audit_page(request: AnyRequest, engineer: FromQuery[str | None] = None, period: FromQuery[str] = "") -> Page:
    state = server_state(request)
    period_from = request.query_params.get("from") or ""
    period_to = request.query_params.get("to") or ""
    error = ""
    today = dt.datetime.now(office_zone(request)).date()  # "this week" is the office's week
    presets = {name: audit_report.preset(name, today) for name in audit_report.PRESETS}
    try:
        if period:
            start, end = audit_report.preset(period, today)
            period_from, period_to = start.isoformat(), end.isoformat()
        report = await in_thread(
            lambda: state.db.read(
                lambda c: audit_report.backup_audit(
                    c, engineer or None, _date(period_from, "from"), _date(period_to, "to")
                )
            )
        )
    except InvalidValue as exc:
        error = exc.message
        report = await in_thread(lambda: state.db.read(lambda c: audit_report.backup_audit(c)))
    engineers = await in_thread(lambda: state.db.read(jobs.engineers))
    target = config(state).audit.compliance_target_pct
    try:
        trends = await in_thread(lambda: state.db.read(lambda c: audit_trend.trends(c, today, engineer or None)))
    except InvalidValue:  # an unknown engineer: the error above already says so
        trends = await in_thread(lambda: state.db.read(lambda c: audit_trend.trends(c, today)))
    query = "&".join(
        f"{k}={v}" for k, v in (("engineer", engineer or ""), ("from", period_from), ("to", period_to)) if v
    )
    return await render(
        request,
        "audit.html",
        section="audit",
        report=report,
        engineers=engineers,
        error=error,
        engineer=engineer or "",
        period_from=period_from,
        period_to=period_to,
        query=query,
        presets=presets,
        target=target,
        max_comment=MAX_COMMENT,
        trends=[(t, audit_trend.chart(t, target)) for t in trends],
    )


@get("/audit/backups.csv", opt={"roles": AUDIT})
async def audit_csv(request: AnyRequest, engineer: FromQuery[str | None] = None) -> Response[str]:
    state = server_state(request)
    period_from = _date(request.query_params.get("from"), "from")
    period_to = _date(request.query_params.get("to"), "to")
    report = await in_thread(
        lambda: state.db.read(lambda c: audit_report.backup_audit(c, engineer or None, period_from, period_to))
    )
    return csv_response(audit_report.to_csv(report, sheet_url_of(request), office_zone(request)))


@post("/audit/findings/{job_id:str}/{engineer:str}/review", opt={"roles": REVIEW}, status_code=303)
async def review_submit(request: AnyRequest, job_id: FromPath[str], engineer: FromPath[str]) -> Redirect:
    """Mark a finding reviewed with the form's comment; back to the audit as it was filtered."""
    form = await request.form()
    state, who, comment = server_state(request), principal(request), str(form.get("comment", ""))
    _ = gettext_of(request)
    try:
        done = await in_thread(
            lambda: state.db.write(
                lambda c: reviews.mark_reviewed(c, who, job_id, engineer, comment, dt.datetime.now(dt.timezone.utc))
            )
        )
        flash(request, _("Finding on {job} marked reviewed.").format(job=done.job_id))
    except ProtocolError as exc:
        flash(request, exc.message, "error")
    return Redirect(safe_next(str(form.get("next", ""))) or "/office/audit", status_code=303)


# --- files ------------------------------------------------------------------------------------


@get("/blobs/{sha256:str}")
async def blob_page(request: AnyRequest, sha256: FromPath[str]) -> Stream:
    """A stored file (signature image, photo, drawing) for the office pages."""
    blobstore.check_sha(sha256)
    state = server_state(request)
    if not await in_thread(lambda: state.blobs.has(sha256)):  # a network call with a bucket
        raise NotFound(N_("no file {sha256}", sha256=sha256), field="sha256")
    row = await in_thread(lambda: state.db.read(lambda c: blob_rows.info(c, sha256)))
    media_type = (row["media_type"] if row else "") or "application/octet-stream"
    inline = media_type in _INLINE_TYPES
    headers = {
        "ETag": f'"{sha256}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=86400",
        "Content-Security-Policy": FILE_POLICY,
        "Content-Disposition": "inline" if inline else f'attachment; filename="{sha256[:12]}"',
    }
    return Stream(
        state.blobs.read(sha256), media_type=media_type if inline else "application/octet-stream", headers=headers
    )
