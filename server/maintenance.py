"""Preventive maintenance: routine-check jobs generated from each site's handover date.

DOMAIN.md's standing rule: in the first 3 months after handover a routine check every two
weeks, after that every month (inspect all devices, clean the main devices, calibrate them,
replace abnormal ones). ``due_dates`` is that rule as a pure function; ``generate`` turns the
dates that have come within reach into ``Job`` records of kind ``preventive``.

Never twice: each (site, due date) generated is remembered in ``maintenance_plan``, and the job
id is derived from them (``PM-{site}-{YYYYMMDD}``), so a second run, a run after a crash, or a
dispatcher cancelling or deleting a check does not bring it back. Monthly dates are counted
from the handover each time (not from the previous check), so a handover on the 31st gives
checks on the last day of short months and the 31st again after, without drifting.

>>> [d.isoformat() for d in due_dates(dt.date(2026, 1, 31), dt.date(2026, 7, 31))]  # doctest: +NORMALIZE_WHITESPACE
['2026-02-14', '2026-02-28', '2026-03-14', '2026-03-28', '2026-04-11', '2026-04-25',
 '2026-04-30', '2026-05-31', '2026-06-30', '2026-07-31']
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from typing import Iterator, NamedTuple

from sync_protocol import Equipment, Job, Site
from sync_protocol.warranty import job_warranty

from . import policy
from .storage import audit
from .storage import records as store
from .storage import scheduler as plans
from .storage import Tx

CHECK_TEXT = (
    "Preventive maintenance: inspect all devices, clean the main devices, calibrate them, "
    "replace abnormal ones; record a maintenance event for each."
)
_MAX_ID = 64


class Generated(NamedTuple):
    job_id: str
    site_id: str
    due: dt.date


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(
    handover: dt.date, until: dt.date, config: policy.MaintenanceConfig = policy.MaintenanceConfig()
) -> Iterator[dt.date]:
    """Every routine check due after ``handover`` up to and including ``until``.

    Early phase: every ``early_every_days`` after handover while before handover +
    ``early_months``; then monthly on the handover's day of the month, starting at handover +
    ``early_months`` (or one month after handover when there is no early phase).
    """
    switch = add_months(handover, config.early_months)
    step = dt.timedelta(days=config.early_every_days)
    day = handover + step
    while day < switch and day <= until:
        yield day
        day += step
    months = max(config.early_months, 1)
    while (day := add_months(handover, months)) <= until:
        yield day
        months += 1


def job_id(site_id: str, due: dt.date) -> str:
    """The deterministic id of a site's check on ``due`` (hashed when the site id is too long)."""
    ident = f"PM-{site_id}-{due:%Y%m%d}"
    if len(ident) <= _MAX_ID:
        return ident
    return f"PM-{hashlib.sha256(site_id.encode()).hexdigest()[:16]}-{due:%Y%m%d}"


def generate(conn: Tx, now: dt.datetime, config: policy.Config = policy.DEFAULT) -> list[Generated]:
    """Create every check due within ``[now - backfill, now + horizon]`` not generated before
    (the caller holds the write transaction)."""
    cfg = config.maintenance
    today = now.astimezone(dt.timezone.utc).date()
    start = today - dt.timedelta(days=cfg.backfill_days)
    until = today + dt.timedelta(days=cfg.horizon_days)
    out: list[Generated] = []
    for site in _sites(conn):
        assert site.handover_date is not None
        planned = plans.planned_dates(conn, site.id)
        for due in due_dates(site.handover_date, until, cfg):
            if due < start or due.isoformat() in planned:
                continue
            out.append(_create(conn, now, config, site, due))
    return out


def _sites(conn: Tx) -> list[Site]:
    return store.sites_with_handover(conn)


def _create(conn: Tx, now: dt.datetime, config: policy.Config, site: Site, due: dt.date) -> Generated:
    ident = job_id(site.id, due)
    if store.get(conn, "job", ident, include_deleted=True) is None:
        reported = dt.datetime.combine(due, dt.time(0), dt.timezone.utc)
        deadlines = policy.deadlines(config.maintenance.severity, reported, config)
        equipment: list[Equipment] = store.children(conn, "equipment", site.id)
        job = Job(
            id=ident,
            number=ident,
            kind="preventive",
            customer_id=site.customer_id,
            site_id=site.id,
            equipment_ids=[eq.id for eq in equipment],
            fault=CHECK_TEXT,
            severity=config.maintenance.severity,
            reported_by="preventive maintenance schedule",
            reported_at=reported,
            respond_by=deadlines.respond_by,
            onsite_by=deadlines.onsite_by,
            status="new",
            warranty=job_warranty(equipment, due),
        )
        store.put(conn, job)
        audit.append_record(
            conn,
            now,
            audit.SCHEDULER,
            "maintenance.generate",
            "job",
            ident,
            ref=f"site {site.id} handover {site.handover_date}: check due {due}",
        )
    plans.plan(conn, site.id, due.isoformat(), ident, now.astimezone(dt.timezone.utc).isoformat())
    return Generated(ident, site.id, due)
