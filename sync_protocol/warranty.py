"""Warranty (DOMAIN.md step 7): is the equipment covered, and so is the job's repair free?

One rule for the laptop that tells the engineer on site (``warranty_of``, judged today, with a
human cause voiding it) and the server that sets ``Job.warranty`` when a job is taken in
(``job_warranty``, judged on the report date: the promise made when the customer called).

>>> import datetime as dt
>>> from sync_protocol import Equipment
>>> eq = Equipment(id="EQ-1", site_id="S-1", model="R740", serial="SN1", warranty_end=dt.date(2027, 1, 31))
>>> warranty_of(eq, [], today=dt.date(2026, 11, 28)).covered
True
>>> job_warranty([eq], dt.date(2027, 2, 1))
'out'
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Literal, NamedTuple

from .events import Diagnosis
from .records import Equipment, JobEvent

JobWarranty = Literal["in", "out", "unknown"]


class Warranty(NamedTuple):
    covered: bool
    reason: str  # in words, for the engineer and the customer


def covered_on(equipment: Equipment, day: dt.date) -> bool | None:
    """Whether the equipment's warranty covers ``day``; None when no end date is on record."""
    return None if equipment.warranty_end is None else equipment.warranty_end >= day


def warranty_of(equipment: Equipment, events: Iterable[JobEvent], today: dt.date) -> Warranty:
    """In or out of warranty today. A human cause (misuse, self-repair) voids it."""
    if any(isinstance(e.payload, Diagnosis) and e.payload.cause == "human" for e in events):
        return Warranty(False, "void: the diagnosed cause is human (misuse or self-repair)")
    covered = covered_on(equipment, today)
    if covered is None:
        return Warranty(False, "no warranty end date on record: treat as out of warranty")
    if covered:
        return Warranty(True, f"in warranty until {equipment.warranty_end}")
    return Warranty(False, f"warranty ended {equipment.warranty_end}")


def job_warranty(equipment: Iterable[Equipment], reported: dt.date) -> JobWarranty:
    """A job's warranty on its report date: ``in`` when every piece of its equipment is covered,
    ``out`` when any is not (part of the work is paid), ``unknown`` without equipment or when
    an end date is missing and nothing is known to be out."""
    states = [covered_on(eq, reported) for eq in equipment]
    if False in states:
        return "out"
    if not states or None in states:
        return "unknown"
    return "in"
