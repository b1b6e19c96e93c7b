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
from typing import Any, Iterable, NamedTuple

import msgspec

from sync_protocol import Equipment, InvalidValue, Job, NotFound, job_name, sla
from sync_protocol.i18n import N_
from sync_protocol.office import EditReply, IntakeRequest, JobSummary
from sync_protocol.states import BOARD_ORDER, CLOSED_TO_WORK, OPEN_STATUSES
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


class BoardFilter(NamedTuple):
    """What the dispatcher narrowed the board to (the page's and the API's GET query, so a
    filtered board is a link to share). ``statuses`` None: every status."""

    statuses: frozenset[str] | None = None
    severities: frozenset[int] = frozenset()
    engineer: str = ""  # a user id (``board`` reads a user name as its id)
    customer: str = ""
    site: str = ""
    text: str = ""  # searched in numbers, fault, names, caller

    def keeps(self, job: JobSummary) -> bool:
        if self.statuses is not None and job.status not in self.statuses:
            return False
        if self.severities and job.severity not in self.severities:
            return False
        if self.engineer and self.engineer not in (job.assignee, job.assignee_name):
            return False
        if (self.customer and job.customer_id != self.customer) or (self.site and job.site_id != self.site):
            return False
        return not self.text or self.text.casefold() in _searched(job)


WORKING = frozenset(s for s in STATUS_ORDER if s not in CLOSED_TO_WORK)  # the board's default


def board_filter(
    status: Iterable[str] = (),
    severity: Iterable[str] = (),
    engineer: str = "",
    customer: str = "",
    site: str = "",
    q: str = "",
    default: frozenset[str] | None = None,
) -> BoardFilter:
    """A ``BoardFilter`` from a GET query (the board page's form and ``/api/v1/jobs``): several
    ``status`` / ``severity`` values are any of them; ``status=all`` is every status, ``open``
    every one still worked (not closed or cancelled); no status is ``default``."""
    wanted: set[str] = set()
    statuses: frozenset[str] | None = default
    for value in (v.strip() for v in status if v and v.strip()):
        if value == "all":
            statuses = None
            break
        if value != "open" and value not in STATUS_ORDER:
            raise InvalidValue(
                N_("status: one of open, all, {statuses}", statuses=", ".join(STATUS_ORDER)), field="status"
            )
        wanted |= WORKING if value == "open" else {value}
        statuses = frozenset(wanted)
    levels = set()
    for value in (v.strip() for v in severity if v and v.strip()):
        if value not in ("1", "2", "3", "4"):
            raise InvalidValue(N_("severity: a level 1-4"), field="severity")
        levels.add(int(value))
    return BoardFilter(
        statuses, frozenset(levels), engineer.strip(), customer.strip(), site.strip(), " ".join(q.split())
    )


def _searched(job: JobSummary) -> str:
    fields = (job.number, job.id, job.fault, job.customer_name, job.site_name, job.assignee_name, job.reported_by)
    return "\n".join(fields).casefold()


def summarize(job: Job, version: int, names: dict[str, str], now: dt.datetime, checked_in: bool = False) -> JobSummary:
    """The board's row for a job; its clock is the promise still running (``sync_protocol.sla``)."""
    deadline = sla.next_deadline(job, checked_in)
    due = None if deadline is None else deadline.due
    left = None if due is None else int((due - now).total_seconds())
    return JobSummary(
        id=job.id,
        number=job.number,
        name=job_name(job.number, job.id),
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
        sla_state="" if due is None else sla.clock_state(job.reported_at, due, now),
        flags=list(job.flags),
        signature_state=job.signature_state,
        version=version,
    )


_NEVER = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def urgency(summary: JobSummary) -> tuple[int, int, dt.datetime, int, str]:
    """Board order, across statuses: every job with a promise running first, by its deadline
    (so overdue ones lead), then by severity; then jobs owing nothing (on site, resolved) by
    severity; closed and cancelled ones last."""
    closed = 1 if summary.status in CLOSED_TO_WORK else 0
    running = 0 if summary.sla_due is not None else 1
    return (closed, running, summary.sla_due or _NEVER, summary.severity, summary.number)


def names_of(conn: Tx, entities: tuple[str, ...] = ("customer", "site")) -> dict[str, str]:
    """Display names of customers and sites (or of ``entities``), keyed ``entity:id``."""
    return office_rows.names(conn, entities)


def board(
    conn: Tx,
    now: dt.datetime | None = None,
    statuses: Iterable[str] | None = None,
    assignee: str | None = None,
    where: BoardFilter = BoardFilter(),
) -> list[JobSummary]:
    """Every job (or those ``where`` keeps; ``statuses`` / ``assignee`` narrow it too) in board order."""
    now = now or _now()
    if statuses:
        where = where._replace(statuses=frozenset(statuses))
    if assignee:
        where = where._replace(engineer=assignee)
    if where.engineer:
        where = where._replace(engineer=user_id_of(conn, where.engineer))
    names = names_of(conn)
    visited = store.checked_in_jobs(conn)
    out = []
    job: Job
    for job, version in store.live(conn, "job"):
        if where.statuses is not None and job.status not in where.statuses:
            continue
        summary = summarize(job, version, names, now, job.id in visited)
        if where.keeps(summary):
            out.append(summary)
    return sorted(out, key=urgency)


def job_summary(conn: Tx, job_id: str, now: dt.datetime | None = None) -> JobSummary:
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(N_("no job {id}", id=job_id), field="job_id")
    return summarize(
        stored.record, stored.version, names_of(conn), now or _now(), job_id in store.checked_in_jobs(conn, [job_id])
    )


def open_jobs_by_equipment(conn: Tx) -> dict[str, list[str]]:
    """The names (``SR-2026-0001 (J-0001)``) of the open jobs on each piece of equipment: a new
    fault on equipment that already has one is often the same fault, reported twice."""
    out: dict[str, list[str]] = {}
    for job_id, number, equipment_id in office_rows.jobs_on_equipment(conn, sorted(OPEN_STATUSES)):
        out.setdefault(equipment_id, []).append(job_name(number, job_id))
    return out


def user_id_of(conn: Tx, name_or_id: str) -> str:
    """The id of the user named ``name_or_id`` (``li-wei`` -> ``u-li-wei``); the text itself
    when no user has that name (it may be an id, or a display name)."""
    row = devices.user_by_name(conn, name_or_id)
    return str(row["id"]) if row else name_or_id


def engineers(conn: Tx) -> list[tuple[str, str, str]]:
    """(id, name, display name) of every active engineer, for assignment pickers."""
    return devices.active_engineers(conn)


# --- who is free: each engineer's open jobs and today's load ------------------------------------


class EngineerLoad(NamedTuple):
    """One engineer's open work, for the assignee picker and the schedule: ``today`` is due by
    the end of the office's day (overdue included), ``week`` by the end of its week (Sunday)."""

    id: str
    name: str
    display_name: str
    jobs: list[JobSummary]  # open, most urgent first
    today: list[JobSummary]
    week: list[JobSummary]  # due after today, within this week


def day_ends(now: dt.datetime, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The end of today and of this week (Monday to Sunday) on the office's wall clock.

    >>> from zoneinfo import ZoneInfo
    >>> now = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.timezone.utc)  # Thursday 26th, 04:00 in Shanghai
    >>> [t.isoformat() for t in day_ends(now, ZoneInfo("Asia/Shanghai"))]
    ['2026-11-27T00:00:00+08:00', '2026-11-30T00:00:00+08:00']
    """
    local = now.astimezone(zone)
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
    next_monday = dt.datetime.combine(local.date() + dt.timedelta(days=7 - local.weekday()), dt.time(), zone)
    return tomorrow, next_monday


def engineer_loads(
    conn: Tx, zone: dt.tzinfo, now: dt.datetime | None = None
) -> tuple[list[EngineerLoad], list[JobSummary]]:
    """Every active engineer's load (in the order of ``engineers``), and the open jobs nobody
    has yet: one read of the board, so the picker and the schedule agree with it."""
    now = now or _now()
    end_of_day, end_of_week = day_ends(now, zone)
    open_jobs = board(conn, now, where=BoardFilter(statuses=OPEN_STATUSES))
    loads = []
    for user_id, name, display in engineers(conn):
        mine = [j for j in open_jobs if j.assignee == user_id]
        due = [(j, j.sla_due) for j in mine if j.sla_due is not None]
        today = [j for j, at in due if at < end_of_day]
        week = [j for j, at in due if end_of_day <= at < end_of_week]
        loads.append(EngineerLoad(user_id, name, display, mine, today, week))
    return loads, [j for j in open_jobs if not j.assignee]
