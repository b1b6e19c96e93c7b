"""SLA watch: a job whose respond-by or on-site-by deadline passed is escalated, once per miss.

Why this is a scheduled job and not a check at read time: escalation is a change the laptops and
the board must see (the job's status and flags sync like any office change), and the supervisor's
archive must show when the promise was broken, so it is written, versioned and audited.

Which promise is owed and when it counts as missed is ``sync_protocol.sla`` (the one rule the
board and the laptops use too); this module only writes the escalation.

Either sets the status to ``escalated`` (which keeps the job on its engineer's laptop, and from
which a check-in still moves it to ``on_site`` and the dispatcher can re-assign it). A flag is
added at most once, and an escalated job is not looked at again, so the watch can run twice,
late, or after a restart without escalating anything a second time. Only a job the dispatcher
re-assigns (status back to ``assigned``) can be escalated again, and only for a miss it has not
been flagged for yet.

The deadlines are the ones stored on the job at intake (``policy.deadlines``): editing the
severity policy in ``config.toml`` changes new jobs' promises, not those already made.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import msgspec

from sync_protocol import Job
from sync_protocol.merge import Writer
from sync_protocol.sla import ESCALATED, ESCALATES_FROM, ONSITE_MISSED, RESPOND_MISSED, missed
from .storage import audit, records as store
from .storage import Tx


SLA_DEVICE = "server:sla"


class Escalation(NamedTuple):
    job_id: str
    number: str
    flags: list[str]
    version: int


def watch(conn: Tx, now: dt.datetime, hlc: str) -> list[Escalation]:
    """Escalate every overdue job (the caller holds the write transaction).

    ``hlc`` stamps the status and flags fields, so a later three-way merge of the job knows the
    system changed them and when.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    job_ids = store.ids_with_status(conn, "job", ESCALATES_FROM)
    visited = store.checked_in_jobs(conn, job_ids)
    done = []
    for job_id in job_ids:
        stored = store.get(conn, "job", job_id)
        if stored is None:
            continue
        job: Job = stored.record
        flags = missed(job, now, checked_in=job_id in visited)
        if flags:
            done.append(_escalate(conn, now, hlc, stored, job, flags))
    return done


def _escalate(conn: Tx, now: dt.datetime, hlc: str, stored: store.Stored, job: Job, flags: list[str]) -> Escalation:
    writer = Writer("system", hlc, SLA_DEVICE, audit.SYSTEM_USER)
    updated = msgspec.structs.replace(job, status=ESCALATED, flags=[*job.flags, *flags])
    version = store.put(conn, updated, stored, writer=writer, changed=("status", "flags"))
    reasons = []
    if RESPOND_MISSED in flags:
        reasons.append(f"respond-by {job.respond_by.isoformat() if job.respond_by else '?'} passed while {job.status}")
    if ONSITE_MISSED in flags:
        reasons.append(f"on-site-by {job.onsite_by.isoformat() if job.onsite_by else '?'} passed without a check-in")
    audit.append_record(
        conn, now, audit.SCHEDULER, "sla.escalate", "job", job.id, ref=f"severity {job.severity}: " + "; ".join(reasons)
    )
    return Escalation(job.id, job.number, flags, version)
