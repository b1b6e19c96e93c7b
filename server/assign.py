"""Assigning a job to an engineer: the dispatcher's one office action the sync core needs.

The job's ``assignee`` is an office-owned field, so the change is stamped with the office as its writer
like any office edit: a later three-way merge of the job knows who set it and when. The job
enters the new engineer's scope and leaves the old one's on their next pulls.
"""

from __future__ import annotations


import msgspec

from sync_protocol import AssignReply, IllegalState, IllegalTransition, InvalidValue, Job, NotFound, office_action
from sync_protocol.merge import Writer

from . import auth
from .auth import Principal
from .push import ServerClock
from .storage import records as store
from .storage import Tx


def assign(conn: Tx, who: Principal, job_id: str, assignee: str, clock: ServerClock) -> AssignReply:
    """(Re-)assign ``job_id`` to the engineer ``assignee`` (user id or name)."""
    stored, job = load_job(conn, job_id)
    user = auth.find_user(conn, assignee)
    if user is None or user["role"] != "engineer":
        raise InvalidValue(f"{assignee!r} is not an engineer", field="assignee")
    status = next_status(job, "assign")
    if job.status == "on_site" and job.assignee == user["id"]:
        status = "on_site"  # re-confirming the engineer already on site does not undo the check-in
    updated = msgspec.structs.replace(job, assignee=user["id"], assignee_name=user["display_name"], status=status)
    version = save_office_change(conn, who, clock, stored, updated, ("assignee", "assignee_name", "status"))
    return AssignReply(job_id=job.id, assignee=user["id"], status=status, version=version)


def load_job(conn: Tx, job_id: str) -> tuple[store.Stored, Job]:
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(f"no job {job_id}", field="job_id")
    return stored, stored.record


def next_status(job: Job, action: str) -> str:
    """The job's status after an office action, or ``IllegalState`` naming the current one."""
    try:
        return office_action(job.status, action)
    except IllegalTransition as exc:
        raise IllegalState(str(exc), field="status", status=job.status) from None


def save_office_change(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    stored: store.Stored,
    updated: Job,
    fields: tuple[str, ...],
) -> int:
    """Store an office change of a job, stamping the changed fields so later merges know who
    set them and when. Returns the job's new version."""
    writer = Writer("office", clock.tick(), who.device_id, who.user_id)
    return store.put(conn, updated, stored, writer=writer, changed=fields)
