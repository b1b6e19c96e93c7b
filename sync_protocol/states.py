"""The job state machine: which recorded events move a job, and what counts as a violation.

Field work is never refused because of a job's state: an engineer who was offline could not
have known the dispatcher cancelled the job. ``after_event`` therefore always answers with the
status to keep, plus a ``violation`` sentence when the work landed on a job that was no longer
theirs to do; the server keeps the event and flags the job for the dispatcher.

>>> after_event("assigned", "checkin", assigned_to_author=True)
Transition(status='on_site', violation=None)
>>> after_event("cancelled", "part_swap", assigned_to_author=True).violation
'work recorded on a cancelled job'
"""

from __future__ import annotations

from typing import NamedTuple

STATUSES = ("new", "assigned", "on_site", "resolved", "escalated", "cancelled", "closed")
OPEN_STATUSES = frozenset({"new", "assigned", "on_site", "escalated"})
# Statuses in which a job sits on its engineer's laptop.
IN_FIELD_SCOPE = frozenset({"assigned", "on_site", "resolved", "escalated"})

# Office transitions: (from statuses) -> to.
_OFFICE = {
    "assign": (frozenset({"new", "assigned", "on_site", "escalated"}), "assigned"),
    "cancel": (frozenset({"new", "assigned", "on_site", "escalated"}), "cancelled"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "cancelled", "closed", "escalated"}), "assigned"),
}


class Transition(NamedTuple):
    status: str
    violation: str | None


class IllegalTransition(ValueError):
    """An office action that the job's current status does not allow."""


def office_action(status: str, action: str) -> str:
    """The status after a dispatcher's action, or ``IllegalTransition``."""
    allowed, target = _OFFICE[action]
    if status not in allowed:
        raise IllegalTransition(f"cannot {action} a job that is {status}")
    return target


def after_event(status: str, kind: str, assigned_to_author: bool,
                outcome: str | None = None) -> Transition:
    """The job's status after an engineer's event of ``kind`` arrives at the server."""
    if status in ("cancelled", "closed"):
        return Transition(status, f"work recorded on a {status} job")
    violation = None if assigned_to_author else "work recorded by an engineer the job is no longer assigned to"
    if not assigned_to_author:
        return Transition(status, violation)
    if kind == "checkin" and status in ("assigned", "escalated", "new"):
        return Transition("on_site", None)
    if kind == "resolution" and outcome == "resolved":
        return Transition("resolved", None)
    if kind == "resolution" and outcome == "escalated":
        return Transition("escalated", None)
    return Transition(status, None)
