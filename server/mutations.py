"""One mutation of a push applied: an event's checks and effects, or a patch's three-way merge.

Every refusal is a ``SyncRejected`` raised before the mutation's first write and answered as a
``rejected`` result, so one bad mutation never undoes the batch around it. An office edit takes
the same merge path as a laptop's patch (``apply_patch``), with the office as the writer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sync_protocol import (
    AppendEvent,
    Job,
    JobEvent,
    MutationResult,
    PatchRecord,
    SyncRejected,
    Writer,
    merge_fields,
)
from sync_protocol import sentences
from sync_protocol.bounds import base_version_problem, stamp_problem, time_problem
from sync_protocol.checks import check_entity, check_patch
from sync_protocol.records import as_appended, to_builtins

from . import conflicts, effects, permissions, policy
from .auth import Principal
from .storage import Tx, devices, savepoint, scopes
from .storage import records as store

_answer_decoder = msgspec.msgpack.Decoder(MutationResult)


def stored_answer(conn: Tx, device_id: str, seq: int) -> MutationResult:
    """The answer given when ``seq`` was applied: a retried mutation gets it again, unapplied."""
    answer = devices.stored_answer(conn, device_id, seq)
    if answer is not None:
        return _answer_decoder.decode(answer)
    return MutationResult(
        seq=seq, status="applied", reason="already_applied", message="applied earlier; its answer has been cleaned up"
    )


def check_stamps(mutation: AppendEvent | PatchRecord, server_ms: int) -> None:
    """Refuse a mutation stamped outside the protocol's window of the server's clock (the
    laptop's clock is wrong, or lies): it is never stored, and never observed."""
    problem = stamp_problem(mutation.hlc, server_ms)
    if problem:
        raise SyncRejected("clock", problem, field="hlc")
    if isinstance(mutation, AppendEvent):
        problem = stamp_problem(mutation.event.hlc, server_ms)
        if problem:
            raise SyncRejected("clock", problem, field="event.hlc")
        problem = time_problem(mutation.event.at, server_ms)
        if problem:
            raise SyncRejected("invalid", f"at: {problem}", field="event.at")


def apply_event(
    conn: Tx, who: Principal, mutation: AppendEvent, ctx: effects.BatchContext, server_ms: int
) -> MutationResult:
    """One event, with no savepoint: every refusal comes before its first write (the checks,
    then the effects, which refuse nothing), and its writes wait in ``ctx.pending`` anyway."""
    try:
        check_stamps(mutation, server_ms)
        return _append_event(conn, who, mutation, ctx)
    except SyncRejected as rejected:
        return _rejected(mutation, rejected)


def apply_patch_in_savepoint(
    conn: Tx, who: Principal, mutation: PatchRecord, ctx: effects.BatchContext, server_ms: int
) -> MutationResult:
    """One patch inside a savepoint: a rejection undoes its partial writes only."""
    try:
        with savepoint(conn, "mutation"):
            check_stamps(mutation, server_ms)
            result = apply_patch(conn, who, mutation, ctx)
    except SyncRejected as rejected:
        result = _rejected(mutation, rejected)
    ctx.forget()  # a patch may change a job or equipment the batch looked up
    return result


def _rejected(mutation: AppendEvent | PatchRecord, rejected: SyncRejected) -> MutationResult:
    return MutationResult(
        seq=mutation.seq, status="rejected", reason=rejected.reason, field=rejected.field, message=rejected.message
    )


def _append_event(conn: Tx, who: Principal, mutation: AppendEvent, ctx: effects.BatchContext) -> MutationResult:
    permissions.check_event(who)
    event = as_appended(mutation.event, who.user_id, who.device_id)
    existing = _existing_event(conn, event.id, ctx)
    if existing is not None:
        old: JobEvent = existing.record
        if (old.job_id, old.hlc, old.payload) == (event.job_id, event.hlc, event.payload):
            return MutationResult(
                seq=mutation.seq,
                status="applied",
                reason="duplicate_event",
                version=existing.version,
                message="this event was already recorded",
            )
        raise SyncRejected("id_taken", f"event id {event.id} is already used by another event", field="event.id")
    stored_job = ctx.get(conn, "job", event.job_id)
    if stored_job is None:
        raise SyncRejected("unknown_job", f"no job {event.job_id}", field="event.job_id")
    job: Job = stored_job.record
    if not scopes.job_is_workable(conn, who, job.assignee, job.id):
        raise SyncRejected("scope", f"job {job.number} is not assigned to you", field="event.job_id")
    effects.check_event(conn, job, event, ctx)
    version = ctx.put(conn, event, origin=ctx.keeper)  # decided: from here on nothing refuses
    ctx.known_events.add(event.id)
    if ctx.keeper is not None:
        ctx.kept.append((event.id, event.job_id))
    raised = effects.apply_effects(conn, who, job, event, ctx)
    return MutationResult(
        seq=mutation.seq,
        status="conflict" if raised else "applied",
        version=version,
        conflicts=raised,
        message="; ".join(_conflict_messages(conn, raised, ctx)) if raised else "",
    )


def _existing_event(conn: Tx, event_id: str, ctx: effects.BatchContext) -> store.Stored[JobEvent] | None:
    """The stored event with this id (the batch's own writes first; tombstones too), if known."""
    if event_id not in ctx.known_events:
        return None
    held = None if ctx.pending is None else ctx.pending.get("event", event_id)
    return held or store.get(conn, "event", event_id, include_deleted=True)


def _conflict_messages(conn: Tx, ids: list[str], ctx: effects.BatchContext) -> list[str]:
    """What each raised conflict is about, in words, for the engineer reading the push answer."""
    out = []
    for conflict_id in ids:
        stored = ctx.get(conn, "conflict", conflict_id)
        record = stored.record if stored else None
        out.append(
            f"{record.kind} conflict: {record.detail or record.rule}" if record else f"conflict {conflict_id} raised"
        )
    return out


def apply_patch(conn: Tx, who: Principal, mutation: PatchRecord, ctx: effects.BatchContext) -> MutationResult:
    """The merge path every change of a record's fields takes, a laptop's patch or an office
    edit: scope, ``checks.check_patch``, the three-way merge, one ``store.put``, conflicts."""
    entity, record_id = mutation.entity, mutation.id
    kind = check_entity(entity)
    stored = store.get(conn, entity, record_id)
    if stored is None:
        raise SyncRejected("unknown_record", f"no {entity} {record_id}", field="id")
    permissions.check_writer(who)
    if who.is_engineer and not scopes.record_in_scope(conn, who, entity, record_id):
        raise SyncRejected("scope", f"{entity} {record_id} is not in your scope", field="id")
    side = "field" if who.is_engineer else "office"
    check_patch(entity, stored.record, mutation.fields, side)
    problem = base_version_problem(mutation.base_version, stored.version)
    if problem:
        raise SyncRejected("invalid", problem, field="base_version")
    current = to_builtins(stored.record)
    writer = Writer(side, mutation.hlc, who.device_id, who.user_id)
    outcome = merge_fields(
        entity, current, stored.field_versions, stored.version, mutation.fields, mutation.base_version, writer
    )
    if outcome.changes or outcome.stamped:
        changes, stamped = _with_derived(stored.record, outcome.changes, outcome.stamped, ctx.config)
        record = msgspec.convert({**current, **changes}, kind)  # valid: check_patch said so
        version = store.put(conn, record, stored, writer=writer, changed=stamped)
    else:
        version = stored.version
    engineer = who.user_id if who.is_engineer else None
    raised = [
        conflicts.field_conflict(conn, ctx.now, entity, record_id, fc, engineer or _engineer_of(fc))
        for fc in outcome.conflicts
    ]
    return MutationResult(
        seq=mutation.seq,
        status=outcome.status,
        version=version,
        conflicts=raised,
        message=sentences.joined(
            [sentences.say(sentences.CHANGED_ON_BOTH_SIDES, field=fc.field) for fc in outcome.conflicts],
            sentences.LISTED,
        ),
    )


def _engineer_of(fc: object) -> str | None:
    for who in (fc.kept_by, fc.other_by):  # type: ignore[attr-defined]
        if who.side == "field" and who.user:
            return str(who.user)
    return None


def _with_derived(
    record: object, changes: dict[str, Any], stamped: list[str], config: policy.Config
) -> tuple[dict[str, Any], list[str]]:
    """What a change implies besides itself: a job whose severity changes gets the deadlines of
    the new severity, from its report time (the office API and a push alike), stamped like it."""
    severity = changes.get("severity")
    if isinstance(record, Job) and isinstance(severity, int) and severity in config.severity:
        try:
            deadlines = policy.deadlines(severity, record.reported_at, config)
        except OverflowError:  # a report time stored before times were bounded
            raise SyncRejected(
                "invalid", "the job's report time is out of range: correct it first", field="fields.severity"
            ) from None
        derived = {"respond_by": deadlines.respond_by.isoformat(), "onsite_by": deadlines.onsite_by.isoformat()}
        return {**changes, **derived}, [*stamped, *derived]
    return changes, stamped
