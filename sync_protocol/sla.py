"""Which service-level promise is running on a job, and which ones it has missed: one rule for
the SLA watch that escalates, the dispatch board's clocks and the laptop's "most urgent first".

The promises (DOMAIN.md, severity table) are stored on the job at intake (``respond_by``,
``onsite_by``). Each runs while the job's status says it is still owed:

* **respond**: while the job is ``new`` (nobody has taken it);
* **on site**: while no engineer has checked in, and the job is open and not yet visited
  (``new``, ``assigned`` or ``escalated``: ``states.AWAITING_VISIT``).

A check-in counts whatever the status says (a laptop shows its own pending check-in before the
server moved the job to ``on_site``; a job escalated after a visit owes no visit any more).
The watch escalates only jobs still ``new`` or ``assigned``: an ``escalated`` job is already in
front of a dispatcher, and its missed promise shows on the board as overdue.

>>> import datetime as dt
>>> from sync_protocol import Job
>>> t = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
>>> job = Job(id="J-1", number="SR-1", customer_id="C", site_id="S", severity=1, reported_at=t,
...           respond_by=t + dt.timedelta(minutes=30), onsite_by=t + dt.timedelta(hours=2))
>>> next_deadline(job, checked_in=False).target
'respond'
>>> missed(job, t + dt.timedelta(hours=3), checked_in=False)
['sla_respond_missed', 'sla_onsite_missed']

A running clock is **at risk** (amber on the board, before red) once less than a quarter of its
window (from the report to the deadline) is left: 7.5 min of a 30 min respond promise, 18 h of
a 72 h on-site one. One share for every severity, so the warning scales with the promise.

>>> clock_state(t, t + dt.timedelta(minutes=30), t + dt.timedelta(minutes=20))
'ok'
>>> clock_state(t, t + dt.timedelta(minutes=30), t + dt.timedelta(minutes=23))
'at_risk'
>>> clock_state(t, t + dt.timedelta(minutes=30), t + dt.timedelta(minutes=31))
'overdue'
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Literal, NamedTuple

from .events import Checkin
from .records import Job, JobEvent
from .states import AWAITING_VISIT

Target = Literal["respond", "onsite"]
ClockState = Literal["ok", "at_risk", "overdue"]
# Less than this share of a promise's window left: the clock is at risk.
AT_RISK_SHARE = 0.25

RESPOND_MISSED = "sla_respond_missed"
ONSITE_MISSED = "sla_onsite_missed"
FLAG_OF: dict[Target, str] = {"respond": RESPOND_MISSED, "onsite": ONSITE_MISSED}
# Statuses whose job the respond promise is still owed for.
RESPONDING = frozenset({"new"})
# Statuses the SLA watch escalates from (to ``escalated``).
ESCALATES_FROM = frozenset({"new", "assigned"})
ESCALATED = "escalated"


class Deadline(NamedTuple):
    target: Target
    due: dt.datetime


def running(job: Job, checked_in: bool) -> list[Deadline]:
    """The promises still owed on ``job``, respond before on site."""
    out = []
    if job.status in RESPONDING and job.respond_by is not None:
        out.append(Deadline("respond", job.respond_by))
    if job.status in AWAITING_VISIT and not checked_in and job.onsite_by is not None:
        out.append(Deadline("onsite", job.onsite_by))
    return out


def next_deadline(job: Job, checked_in: bool) -> Deadline | None:
    """The promise that matters now: the first one still running, or None."""
    owed = running(job, checked_in)
    return owed[0] if owed else None


def clock_state(started: dt.datetime, due: dt.datetime, now: dt.datetime) -> ClockState:
    """``overdue`` past the deadline, ``at_risk`` within the last ``AT_RISK_SHARE`` of the
    window from ``started`` (the report) to ``due``, else ``ok``."""
    left = (due - now).total_seconds()
    if left < 0:
        return "overdue"
    window = max((due - started).total_seconds(), 0.0)
    return "at_risk" if left < window * AT_RISK_SHARE else "ok"


def missed(job: Job, now: dt.datetime, checked_in: bool) -> list[str]:
    """The SLA flags the watch should add to ``job`` now (each at most once)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if job.status not in ESCALATES_FROM:
        return []
    return [FLAG_OF[d.target] for d in running(job, checked_in) if now > d.due and FLAG_OF[d.target] not in job.flags]


def checked_in(events: Iterable[JobEvent]) -> bool:
    """Has an engineer checked in on the job (the end of the on-site promise)?"""
    return any(isinstance(e.payload, Checkin) for e in events)
