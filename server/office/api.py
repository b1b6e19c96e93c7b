"""``/api/v1``: every office page's data as JSON, for integrations (and the board's polling).

Handlers are thin: the guard has already resolved the caller and checked the role; each handler
runs its store work in a worker thread, writes in one transaction (``journal.office_write``), and
returns a typed message of ``sync_protocol.office`` (which is what the OpenAPI schema shows).
Errors are the protocol's typed errors, always answered as a JSON ``ErrorBody`` (the router's own
handlers: an office call often has no body whose format the answer could follow).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Request, Response, Router, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from sync_protocol import Conflict, InvalidValue, ProtocolError
from sync_protocol.codec import breaks_a_bound
from sync_protocol.office import (
    FindingReview,
    ReviewRequest,
    AuditReport,
    EditReply,
    IntakeRequest,
    JobEdit,
    JobSheet,
    JobSummary,
    ResolveReply,
    ResolveRequest,
)

from ..http_errors import from_http
from ..openapi import OFFICE, OFFICE_BODY, errors
from . import audit_report, conflict_queue, jobs, reviews, sheet
from .access import AUDIT, DISPATCH, READ, REVIEW, api_guard, principal, server_state
from .api_refdata import refdata_handlers
from .i18n import office_zone
from .journal import config, office_write
from .worker import in_thread

T = TypeVar("T")


# --- jobs -------------------------------------------------------------------------------------


@get(
    "/jobs",
    responses=errors(*OFFICE, 422),
    summary="The dispatch board: jobs by urgency (deadline, then severity), with their SLA clocks",
    description="Filters as on the board page: several `status` (or `open`, `all`) and `severity` values "
    "are any of them; `engineer` is a user name or id; `q` searches numbers, fault, names and caller.",
)
async def list_jobs(
    request: Request[Any, Any, Any],
    status: FromQuery[list[str] | None] = None,
    assignee: FromQuery[str | None] = None,
    severity: FromQuery[list[str] | None] = None,
    engineer: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    site: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
) -> list[JobSummary]:
    state = server_state(request)
    where = jobs.board_filter(
        status or (), severity or (), engineer or assignee or "", customer or "", site or "", q or ""
    )
    return await in_thread(lambda: state.db.read(lambda c: jobs.board(c, where=where)))


@post(
    "/jobs",
    status_code=201,
    opt={"roles": DISPATCH},
    responses=errors(*OFFICE_BODY),
    summary="Take in a fault report: creates a job with deadlines from the severity policy",
)
async def create_job(request: Request[Any, Any, Any], data: JSONBody[IntakeRequest]) -> JobSummary:
    state, who = server_state(request), principal(request)

    def work() -> JobSummary:
        job = office_write(state, who, "office.intake", lambda c: jobs.intake(c, who, data, config(state), state.clock))
        return state.db.read(lambda c: jobs.job_summary(c, job.id))

    return await in_thread(work)


@get("/jobs/{job_id:str}", responses=errors(*OFFICE, 404), summary="One job as the board shows it")
async def get_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> JobSummary:
    state = server_state(request)
    return await in_thread(lambda: state.db.read(lambda c: jobs.job_summary(c, job_id)))


@patch(
    "/jobs/{job_id:str}",
    opt={"roles": DISPATCH},
    responses=errors(*OFFICE_BODY, 404),
    summary="Correct a job's fault description or severity (merged like a laptop's edit)",
)
async def edit_job(request: Request[Any, Any, Any], job_id: FromPath[str], data: JSONBody[JobEdit]) -> EditReply:
    state, who = server_state(request), principal(request)
    return await in_thread(
        lambda: office_write(
            state,
            who,
            "office.edit",
            lambda c: jobs.edit_job(
                c, who, state.clock, config(state), job_id, data.base_version, data.fault, data.severity
            ),
        )
    )


@post(
    "/jobs/{job_id:str}/cancel",
    status_code=200,
    opt={"roles": DISPATCH},
    responses=errors(*OFFICE, 404, 409),
    summary="Cancel a job",
)
async def cancel_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> JobSummary:
    state, who = server_state(request), principal(request)

    def work() -> JobSummary:
        office_write(state, who, "office.cancel", lambda c: jobs.cancel(c, who, job_id, state.clock))
        return state.db.read(lambda c: jobs.job_summary(c, job_id))

    return await in_thread(work)


@get(
    "/jobs/{job_id:str}/sheet",
    responses=errors(*OFFICE, 404),
    summary="The job's synced service sheet: timeline, signature, conflicts",
)
async def get_sheet(request: Request[Any, Any, Any], job_id: FromPath[str]) -> JobSheet:
    state = server_state(request)
    return await in_thread(lambda: state.db.read(lambda c: sheet.job_sheet(c, job_id)))


# --- conflicts --------------------------------------------------------------------------------


@get("/conflicts", responses=errors(*OFFICE), summary="The conflict queue (open by default)")
async def list_conflicts(
    request: Request[Any, Any, Any],
    status: FromQuery[Literal["open", "resolved", "all"]] = "open",
    job_id: FromQuery[str | None] = None,
) -> list[Conflict]:
    state = server_state(request)
    wanted = None if status == "all" else status
    rows = await in_thread(lambda: state.db.read(lambda c: conflict_queue.list_conflicts(c, wanted, job_id)))
    return [conflict for conflict, _ in rows]


@post(
    "/conflicts/{conflict_id:str}/resolve",
    status_code=200,
    opt={"roles": DISPATCH},
    responses=errors(*OFFICE_BODY, 404, 409),
    summary="Accept the rule's result, or override it with the other value",
)
async def resolve_conflict(
    request: Request[Any, Any, Any], conflict_id: FromPath[str], data: JSONBody[ResolveRequest]
) -> ResolveReply:
    state, who = server_state(request), principal(request)
    return await in_thread(
        lambda: office_write(
            state,
            who,
            "office.resolve",
            lambda c: conflict_queue.resolve(c, who, state.clock, conflict_id, data.resolution, config=config(state)),
        )
    )


# --- audit ------------------------------------------------------------------------------------


def _audit(
    request: Request[Any, Any, Any], engineer: str | None, period_from: dt.date | None, period_to: dt.date | None
) -> AuditReport:
    state = server_state(request)
    # An empty ``engineer=`` (a form's "all engineers") is no filter, as on the office pages: the
    # report's ``engineer`` is then null, never "" (which is not a user id).
    return state.db.read(lambda c: audit_report.backup_audit(c, engineer or None, period_from, period_to))


@get(
    "/audit/backups",
    opt={"roles": AUDIT},
    responses=errors(*OFFICE, 422),
    summary="Backup-before-repair audit per engineer and period (dates inclusive, UTC)",
)
async def audit_backups(
    request: Request[Any, Any, Any],
    engineer: FromQuery[str | None] = None,
    period_from: Annotated[dt.date | None, QueryParameter(name="from")] = None,
    period_to: Annotated[dt.date | None, QueryParameter(name="to")] = None,
) -> AuditReport:
    return await in_thread(lambda: _audit(request, engineer, period_from, period_to))


@get(
    "/audit/backups.csv",
    opt={"roles": AUDIT},
    media_type="text/csv",
    responses=errors(*OFFICE, 422),
    summary="The backup audit's findings as CSV",
)
async def audit_backups_csv(
    request: Request[Any, Any, Any],
    engineer: FromQuery[str | None] = None,
    period_from: Annotated[dt.date | None, QueryParameter(name="from")] = None,
    period_to: Annotated[dt.date | None, QueryParameter(name="to")] = None,
) -> Response[str]:
    report = await in_thread(lambda: _audit(request, engineer, period_from, period_to))
    return csv_response(audit_report.to_csv(report, sheet_url_of(request), office_zone(request)))


@post(
    "/audit/findings/{job_id:str}/{engineer:str}/review",
    status_code=200,
    opt={"roles": REVIEW},
    responses=errors(*OFFICE_BODY, 404),
    summary="Mark a finding (an engineer's repair work on a job) reviewed, with a comment",
)
async def review_finding(
    request: Request[Any, Any, Any], job_id: FromPath[str], engineer: FromPath[str], data: JSONBody[ReviewRequest]
) -> FindingReview:
    state, who = server_state(request), principal(request)
    now = dt.datetime.now(dt.timezone.utc)
    return await in_thread(
        lambda: state.db.write(lambda c: reviews.mark_reviewed(c, who, job_id, engineer, data.comment, now))
    )


def sheet_url_of(request: Request[Any, Any, Any]) -> str:
    """The absolute address of a job sheet, for a file read away from the site."""
    return str(request.base_url).rstrip("/") + "/office/jobs/{job_id}"


def csv_response(text: str, filename: str = "backup-audit.csv") -> Response[str]:
    return Response(
        text,
        media_type="text/csv",  # litestar adds "; charset=utf-8" to text/*
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- errors: the office API answers JSON, whatever the request's (often absent) body was -----


def _json_error(error: ProtocolError) -> Response[bytes]:
    return Response(msgspec.json.encode(error.to_body()), media_type="application/json", status_code=error.status)


def _protocol_error(request: Request[Any, Any, Any], exc: ProtocolError) -> Response[bytes]:
    return _json_error(exc)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    detail = str(extra[0].get("message") or "") if extra and isinstance(extra[0], dict) else ""
    message = str(exc.detail) + (f": {detail}" if detail else "")
    if exc.status_code == 400 and breaks_a_bound(detail):  # a value out of its bounds: as the sync API says
        field = next((str(i["key"]) for i in extra if isinstance(i, dict) and i.get("key")), None)
        return _json_error(InvalidValue(message, field=field))
    return _json_error(from_http(exc, message))


def _invalid_value(request: Request[Any, Any, Any], exc: msgspec.ValidationError) -> Response[bytes]:
    return _json_error(InvalidValue(str(exc)))


def api_router(session_middleware: Any) -> Router:
    """The ``/api/v1`` router (the assign endpoint of the sync protocol lives beside it, ``assign_api``)."""
    return Router(
        path="/api/v1",
        guards=[api_guard],
        middleware=[session_middleware],
        opt={"roles": READ},
        tags=["office"],
        exception_handlers={
            ProtocolError: _protocol_error,
            HTTPException: _http_error,
            msgspec.ValidationError: _invalid_value,
        },
        route_handlers=[
            list_jobs,
            create_job,
            get_job,
            edit_job,
            cancel_job,
            get_sheet,
            list_conflicts,
            resolve_conflict,
            audit_backups,
            audit_backups_csv,
            review_finding,
            *refdata_handlers(),
        ],
    )
