"""Dispatch: taking in a fault report as a job, correcting it, cancelling it, and the board.

A new job gets its number (``SR-{year}-{n}``) and its deadlines from the severity policy of the
server's ``config.toml`` (``server/policy.py``, shared with the SLA watch) at intake; correcting
its severity later recomputes them from the original report time. Both
corrections go through the merge path (``edits.office_patch``), so a laptop holding the job
receives them. Cancelling is an office transition of the job state machine, stamped like
``assign`` stamps its fields.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable

import msgspec

from sync_protocol import Equipment, InvalidValue, Job, NotFound, sla
from sync_protocol.i18n import N_
from sync_protocol.office import EditReply, IntakeRequest, JobSummary
from sync_protocol.states import BOARD_ORDER
from sync_protocol.warranty import job_warranty

from .. import assign as assign_module
from .. import policy
from ..auth import Principal
from ..push import ServerClock
from .edits import create_record, office_patch
from ..storage import Tx, devices
from ..storage import office as office_rows
from ..storage import records as store

STATUS_ORDER = BOARD_ORDER
_JOB_NUMBER = re.compile(r"^J-(\d+)$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _next_job_ids(conn: Tx, year: int) -> tuple[str, str]:
    """(id, number) of the next job: one counter, so ids and numbers never collide."""
    highest = 0
    for job_id in store.all_ids(conn, "job"):
        match = _JOB_NUMBER.match(job_id)
        if match:
            highest = max(highest, int(match.group(1)))
    n = highest + 1
    return f"J-{n:04d}", f"SR-{year}-{n:04d}"


def intake(
    conn: Tx,
    who: Principal,
    request: IntakeRequest,
    config: policy.Config,
    clock: ServerClock,
    now: dt.datetime | None = None,
) -> Job:
    """Create the job for a fault report (and assign it when an engineer is named)."""
    now = now or _now()
    customer = store.get(conn, "customer", request.customer_id)
    if customer is None:
        raise InvalidValue(N_("no customer {id}", id=request.customer_id), field="customer_id")
    site = store.get(conn, "site", request.site_id)
    if site is None or site.record.customer_id != request.customer_id:
        raise InvalidValue(
            N_("no site {site} of customer {customer}", site=request.site_id, customer=request.customer_id),
            field="site_id",
        )
    equipment: list[Equipment] = []
    for equipment_id in dict.fromkeys(request.equipment_ids):
        stored = store.get(conn, "equipment", equipment_id)
        if stored is None or not isinstance(stored.record, Equipment) or stored.record.site_id != request.site_id:
            raise InvalidValue(
                N_("no equipment {id} at site {site}", id=equipment_id, site=request.site_id), field="equipment_ids"
            )
        equipment.append(stored.record)
    reported_at = request.reported_at or now
    deadlines = policy.deadlines(request.severity, reported_at, config)
    job_id, number = _next_job_ids(conn, reported_at.year)
    job = Job(
        id=job_id,
        number=number,
        customer_id=request.customer_id,
        site_id=request.site_id,
        equipment_ids=list(dict.fromkeys(request.equipment_ids)),
        fault=request.fault.strip(),
        severity=request.severity,
        reported_by=request.reported_by or who.display_name,
        reported_at=reported_at,
        respond_by=deadlines.respond_by,
        onsite_by=deadlines.onsite_by,
        warranty=job_warranty(equipment, reported_at.date()),
    )
    create_record(conn, job)
    if request.assignee:
        assign_module.assign(conn, who, job_id, request.assignee, clock)
    return store.get(conn, "job", job_id).record


def edit_job(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    config: policy.Config,
    job_id: str,
    base_version: int,
    fault: str | None = None,
    severity: int | None = None,
) -> EditReply:
    """Correct a job's fault description and/or severity (new severity, new deadlines)."""
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(N_("no job {id}", id=job_id), field="job_id")
    job: Job = stored.record
    fields: dict[str, Any] = {}
    if fault is not None and fault.strip() != job.fault:
        fields["fault"] = fault.strip()
    if severity is not None and severity != job.severity:
        fields["severity"] = severity  # the merge path sets the new deadlines from it
    return office_patch(conn, who, clock, "job", job_id, base_version, fields, config=config)


def cancel(conn: Tx, who: Principal, job_id: str, clock: ServerClock) -> Job:
    """Cancel a job; the engineer's laptop drops it on its next pull (work already done is kept)."""
    stored, job = assign_module.load_job(conn, job_id)
    updated = msgspec.structs.replace(job, status=assign_module.next_status(job, "cancel"))
    assign_module.save_office_change(conn, who, clock, stored, updated, ("status",))
    return updated


# --- the board --------------------------------------------------------------------------------


def summarize(job: Job, version: int, names: dict[str, str], now: dt.datetime, checked_in: bool = False) -> JobSummary:
    """The board's row for a job; its clock is the promise still running (``sync_protocol.sla``)."""
    deadline = sla.next_deadline(job, checked_in)
    due = None if deadline is None else deadline.due
    left = None if due is None else int((due - now).total_seconds())
    return JobSummary(
        id=job.id,
        number=job.number,
        kind=job.kind,
        status=job.status,
        severity=job.severity,
        fault=job.fault,
        customer_id=job.customer_id,
        customer_name=names.get(f"customer:{job.customer_id}", ""),
        site_id=job.site_id,
        site_name=names.get(f"site:{job.site_id}", ""),
        assignee=job.assignee,
        assignee_name=job.assignee_name,
        reported_by=job.reported_by,
        reported_at=job.reported_at,
        respond_by=job.respond_by,
        onsite_by=job.onsite_by,
        sla_target=deadline.target if deadline else "",
        sla_due=due,
        sla_left_s=left,
        overdue=left is not None and left < 0,
        flags=list(job.flags),
        signature_state=job.signature_state,
        version=version,
    )


def urgency(summary: JobSummary) -> tuple[int, int, float, int]:
    """Board order: status group, then overdue first, then least time left, then severity."""
    group = STATUS_ORDER.index(summary.status) if summary.status in STATUS_ORDER else len(STATUS_ORDER)
    left = float("inf") if summary.sla_left_s is None else summary.sla_left_s
    return (group, 0 if summary.overdue else 1, left, summary.severity)


def names_of(conn: Tx) -> dict[str, str]:
    """Display names of customers and sites, keyed ``entity:id``."""
    return office_rows.customer_and_site_names(conn)


def board(
    conn: Tx,
    now: dt.datetime | None = None,
    statuses: Iterable[str] | None = None,
    assignee: str | None = None,
) -> list[JobSummary]:
    """Every job (or those in ``statuses`` / of ``assignee``) in board order."""
    now = now or _now()
    wanted = set(statuses) if statuses else None
    names = names_of(conn)
    visited = store.checked_in_jobs(conn)
    out = []
    job: Job
    for job, version in store.live(conn, "job"):
        if wanted is not None and job.status not in wanted:
            continue
        if assignee and assignee not in (job.assignee, job.assignee_name):
            continue
        out.append(summarize(job, version, names, now, job.id in visited))
    return sorted(out, key=urgency)


def job_summary(conn: Tx, job_id: str, now: dt.datetime | None = None) -> JobSummary:
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(N_("no job {id}", id=job_id), field="job_id")
    return summarize(
        stored.record, stored.version, names_of(conn), now or _now(), job_id in store.checked_in_jobs(conn, [job_id])
    )


def engineers(conn: Tx) -> list[tuple[str, str, str]]:
    """(id, name, display name) of every active engineer, for assignment pickers."""
    return devices.active_engineers(conn)
