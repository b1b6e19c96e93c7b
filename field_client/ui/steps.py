"""The on-site steps of a job in DOMAIN.md's order, which are done, and which one comes next.

The job page shows every step in this order; the next one is open and marked. Required steps
are the ones a finished job always has: check in, back up (or waive), diagnose, the customer's
approval when the work is paid, test, the customer's signature on the current sheet, and the
close-out. Part swaps, a loaner, photos, notes and site facts happen when the job needs them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sync_protocol import (
    Backup,
    Checkin,
    Diagnosis,
    JobEvent,
    Loaner,
    Note,
    PartSwap,
    Photo,
    Quote,
    Resolution,
    Test,
)

from .. import rules

ORDER = (
    "checkin",
    "backup",
    "diagnosis",
    "warranty",
    "quote",
    "swap",
    "loaner",
    "test",
    "photo",
    "note",
    "facts",
    "sign",
    "close",
)


class Step(NamedTuple):
    key: str
    done: bool
    required: bool
    count: int = 0  # how many times it was recorded (notes, photos, swaps)


def steps(events: list[JobEvent], equipment: list[tuple[Any, rules.Warranty]], signature: str) -> list[Step]:
    """Every step of the job, in order, with what the sheet says about it."""

    def count(kind: type) -> int:
        return sum(1 for e in events if isinstance(e.payload, kind))

    paid = any(not warranty.covered for _, warranty in equipment)
    backups = [e.payload for e in events if isinstance(e.payload, Backup)]
    return [
        Step("checkin", count(Checkin) > 0, True, count(Checkin)),
        Step("backup", rules.has_backup(events), True, len(backups)),
        Step("diagnosis", count(Diagnosis) > 0, True, count(Diagnosis)),
        Step("warranty", count(Diagnosis) > 0, False),
        Step("quote", rules.approved_quote(events) is not None, paid, count(Quote)),
        Step("swap", count(PartSwap) > 0, False, count(PartSwap)),
        Step("loaner", count(Loaner) > 0, False, count(Loaner)),
        Step("test", count(Test) > 0, True, count(Test)),
        Step("photo", count(Photo) > 0, False, count(Photo)),
        Step("note", count(Note) > 0, False, count(Note)),
        Step("facts", False, False),
        Step("sign", signature == "valid", True),
        Step("close", count(Resolution) > 0, True, count(Resolution)),
    ]


def next_step(all_steps: list[Step]) -> str | None:
    """The first required step not done yet (None: the job is finished)."""
    return next((s.key for s in all_steps if s.required and not s.done), None)
