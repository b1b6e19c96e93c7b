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

from . import sentences

STATUSES = ("new", "assigned", "on_site", "resolved", "escalated", "cancelled", "closed")
# Work still to be done: the office may (re-)assign or cancel the job.
OPEN_STATUSES = frozenset({"new", "assigned", "on_site", "escalated"})
# Statuses in which a job sits on its engineer's laptop (the scope of ``server/storage/scopes.py``).
IN_FIELD_SCOPE = frozenset({"assigned", "on_site", "resolved", "escalated"})
# Jobs an engineer still has to go out for: on the laptop and not finished.
FIELD_WORK = IN_FIELD_SCOPE & OPEN_STATUSES
# Open jobs nobody has been on site for yet: a check-in moves them to ``on_site``, and their
# on-site promise (``sla.py``) is still running.
AWAITING_VISIT = OPEN_STATUSES - {"on_site"}
# Nothing left to do in the field: finished, or taken off the engineer's list.
DONE_STATUSES = frozenset({"resolved", "closed", "cancelled"})
# Work recorded on a job in these statuses is kept but flagged: the job was no longer open to it.
CLOSED_TO_WORK = frozenset({"cancelled", "closed"})
# What a dispatcher looks at first on the board.
BOARD_ORDER = ("escalated", "new", "assigned", "on_site", "resolved", "closed", "cancelled")

# Office transitions: action -> (from statuses, to).
OFFICE_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "assign": (OPEN_STATUSES, "assigned"),
    "cancel": (OPEN_STATUSES, "cancelled"),
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
    allowed, target = OFFICE_ACTIONS[action]
    if status not in allowed:
        raise IllegalTransition(f"cannot {action} a job that is {status}")
    return target


def after_event(status: str, kind: str, assigned_to_author: bool, outcome: str | None = None) -> Transition:
    """The job's status after an engineer's event of ``kind`` arrives at the server."""
    if status in CLOSED_TO_WORK:
        return Transition(status, sentences.say(sentences.WORK_ON_CLOSED_JOB, status=status))
    violation = None if assigned_to_author else str(sentences.WORK_NOT_ASSIGNED)
    if not assigned_to_author:
        return Transition(status, violation)
    if kind == "checkin" and status in AWAITING_VISIT:
        return Transition("on_site", None)
    if kind == "resolution" and outcome == "resolved":
        return Transition("resolved", None)
    if kind == "resolution" and outcome == "escalated":
        return Transition("escalated", None)
    return Transition(status, None)
