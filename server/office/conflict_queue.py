"""The dispatcher's conflict queue: every decision a merge rule made, until a person settles it.

Resolving a conflict updates the conflict record itself (status ``resolved``, resolution,
who and when), which syncs to the engineer's laptop like any record. ``accepted`` leaves the
rule's result standing. ``overridden`` (field conflicts only) writes the other value through
the merge path as a fresh office edit on the record's current version, so it reaches the
laptops too; if the field has moved on since the conflict, the override is refused rather
than clobbering a newer value.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from sync_protocol import Conflict, IllegalState, InvalidValue, NotFound
from sync_protocol.i18n import N_
from sync_protocol.office import ResolveReply

from sync_protocol.signatures import RESIGN_REQUESTED

from .. import assign as assign_module
from .. import policy
from ..auth import Principal
from ..push import ServerClock
from . import refdata
from .edits import adjust_stock, office_patch
from ..storage import records as store
from ..storage import Tx
from ..storage import office as office_rows


def list_conflicts(
    conn: Tx, status: str | None = "open", job_id: str | None = None, limit: int = -1, offset: int = 0
) -> list[tuple[Conflict, int]]:
    """Conflicts (with their versions), newest first; ``status=None`` for all; ``limit`` and
    ``offset`` cut one page of a long queue."""
    return office_rows.conflicts(conn, status, job_id, limit, offset)


def count_conflicts(conn: Tx, status: str | None = "open", job_id: str | None = None) -> int:
    return office_rows.count_conflicts(conn, status, job_id)


def resolve(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    conflict_id: str,
    resolution: str,
    now: dt.datetime | None = None,
    config: policy.Config = policy.DEFAULT,
) -> ResolveReply:
    """Settle an open conflict: accept the rule's result, or override it with the other value."""
    now = now or dt.datetime.now(dt.timezone.utc)
    stored = store.get(conn, "conflict", conflict_id)
    if stored is None:
        raise NotFound(N_("no conflict {id}", id=conflict_id), field="conflict_id")
    conflict: Conflict = stored.record
    if conflict.status != "open":
        raise IllegalState(
            N_(
                "this conflict was already resolved ({how}) by {who}", how=conflict.resolution, who=conflict.resolved_by
            ),
            field="status",
        )
    record_version = None
    if resolution == "overridden":
        record_version = _override(conn, who, clock, conflict, now, config)
    elif resolution != "accepted":
        raise InvalidValue(N_("resolution is 'accepted' or 'overridden'"), field="resolution")
    settled = msgspec.structs.replace(
        conflict, status="resolved", resolution=resolution, resolved_by=who.user_id, resolved_at=now
    )
    version = store.put(conn, settled, stored)
    return ResolveReply(conflict=settled, version=version, record_version=record_version)


def in_words(conflict: Conflict, names: dict[str, str], people: dict[str, str]) -> str:
    """What a stock or signature conflict means, for a dispatcher (``names`` of parts keyed
    ``part:SKU``, ``people`` by user id); "" for the kinds shown as two values side by side."""
    if conflict.kind == "signature":
        return conflict.detail  # ``signatures.signature_in_words``, written when it was raised
    if conflict.kind != "stock" or not isinstance(conflict.kept, int):
        return ""
    row = refdata.stock_name(conflict.record_id, names, people)
    who = people.get(conflict.engineer or "", "")
    by = who or (N_("the office") if conflict.kept_by.side == "office" else N_("someone"))
    short = -conflict.kept if conflict.kept < 0 else 0
    return N_(
        "The records show {qty} of {row}: {by} took more than the {held} it held, {short} short. "
        "Count what is on the shelf and correct the stock, or accept the figure.",
        qty=conflict.kept,
        row=row,
        by=by,
        held=conflict.other,
        short=short,
    )


def _open_conflict(conn: Tx, conflict_id: str, kind: str) -> Conflict:
    stored = store.get(conn, "conflict", conflict_id)
    if stored is None:
        raise NotFound(N_("no conflict {id}", id=conflict_id), field="conflict_id")
    conflict: Conflict = stored.record
    if conflict.kind != kind:
        raise InvalidValue(
            N_("this is a {kind} conflict, not a {wanted} one", kind=conflict.kind, wanted=kind), field="resolution"
        )
    if conflict.status != "open":
        raise IllegalState(
            N_(
                "this conflict was already resolved ({how}) by {who}", how=conflict.resolution, who=conflict.resolved_by
            ),
            field="status",
        )
    return conflict


def request_resign(
    conn: Tx, who: Principal, clock: ServerClock, conflict_id: str, now: dt.datetime | None = None
) -> ResolveReply:
    """A signature that signs an older sheet: ask the engineer to have it signed again. The job
    gets the ``re_sign_requested`` flag (it syncs to the engineer's laptop; the next valid
    signature clears it) and the conflict is settled, the old signature kept as it is."""
    conflict = _open_conflict(conn, conflict_id, "signature")
    stored, job = assign_module.load_job(conn, conflict.job_id or conflict.record_id)
    if RESIGN_REQUESTED not in job.flags:
        updated = msgspec.structs.replace(job, flags=[*job.flags, RESIGN_REQUESTED])
        assign_module.save_office_change(conn, who, clock, stored, updated, ("flags",))
    return resolve(conn, who, clock, conflict_id, "accepted", now)


def correct_stock(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    conflict_id: str,
    counted: int,
    now: dt.datetime | None = None,
) -> ResolveReply:
    """A stock deficit: the dispatcher counted the shelf. The row moves to ``counted`` by a
    delta through ``edits.adjust_stock`` (the one way stock moves, commuting with the laptops'
    swaps), and the conflict is settled."""
    conflict = _open_conflict(conn, conflict_id, "stock")
    if counted < 0:
        raise InvalidValue(N_("counted: what is on the shelf, 0 or more"), field="counted")
    row = store.get(conn, "stock", conflict.record_id)
    if row is None:
        raise NotFound(N_("no stock row {id}", id=conflict.record_id), field="record_id")
    adjust_stock(conn, who, conflict.record_id, counted - row.record.qty, now)
    return resolve(conn, who, clock, conflict_id, "accepted", now)


def _override(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    conflict: Conflict,
    now: dt.datetime,
    config: policy.Config,
) -> int:
    if conflict.kind != "field" or not conflict.field:
        raise InvalidValue(
            N_(
                "a {kind} conflict has no other value to write: accept it, and correct the record itself if needed",
                kind=conflict.kind,
            ),
            field="resolution",
        )
    record = store.get(conn, conflict.record_entity, conflict.record_id)
    if record is None:
        raise NotFound(
            N_("{entity} {id} no longer exists", entity=conflict.record_entity, id=conflict.record_id),
            field="record_id",
        )
    current = msgspec.to_builtins(getattr(record.record, conflict.field, None))
    if current != conflict.kept:
        raise IllegalState(
            N_(
                "{field} has changed since this conflict (now {current!r}); edit the record instead",
                field=conflict.field,
                current=current,
            ),
            field=conflict.field,
        )
    reply = office_patch(
        conn,
        who,
        clock,
        conflict.record_entity,
        conflict.record_id,
        record.version,
        {conflict.field: conflict.other},
        now,
        config,
    )
    return reply.version
