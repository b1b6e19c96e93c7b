"""Applying a push: every mutation exactly once, the whole batch in one transaction.

Per device the server keeps the highest applied ``seq`` (forever) and each mutation's answer
(for a retention period). A retried batch gets the stored answers back instead of a second
application; the answers, the effects and the new high-water mark commit together, so a crash
at any point leaves either all of a batch or none of it.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Callable

import msgspec

from sync_protocol import (
    AppendEvent,
    Job,
    JobEvent,
    MutationResult,
    PatchRecord,
    PushReply,
    HelloRequired,
    PartSwap,
    PushRequest,
    SequenceGap,
    SyncRejected,
    Writer,
    merge_fields,
    stock_id,
    van,
)
from sync_protocol import sentences
from sync_protocol.bounds import base_version_problem, stamp_problem, time_problem
from sync_protocol.checks import check_entity, check_patch
from sync_protocol.hlc import Clock
from sync_protocol.records import as_appended, to_builtins

from . import conflicts, effects, permissions, policy
from .auth import Principal
from .storage import Tx, audit, changes, devices, pipelined, savepoint, scopes
from .storage import records as store
from .storage.batch import Pending

_answer_encoder = msgspec.msgpack.Encoder()
_answer_decoder = msgspec.msgpack.Decoder(MutationResult)


class ServerClock:
    """The server's hybrid logical clock, shared by request threads.

    It follows the server's wall clock and never adopts a laptop's stamp: laptops' stamps are
    bounded by it instead (``bounds.stamp_problem``: a push stamped beyond the drift bound is
    refused), so no laptop can drag it, and every ``server_hlc`` it answers tells a laptop the
    server's time, which is how a laptop with a wrong clock corrects itself.
    """

    def __init__(self) -> None:
        self._clock = Clock()
        self._lock = threading.Lock()

    def tick(self) -> str:
        with self._lock:
            return self._clock.tick()


def check_contiguous(request: PushRequest, high_seq: int, high_hlc: str | None = None) -> None:
    """A batch must be contiguous and continue exactly at ``high_seq + 1``; a mutation re-sent at
    ``high_seq`` must be the one applied there (same ``hlc``), or the outbox was restored from
    an older copy and must be renumbered first (its new work would get another's answer)."""
    previous = None
    for index, mutation in enumerate(request.mutations):
        if mutation.seq == high_seq and high_hlc is not None and mutation.hlc != high_hlc:
            raise SequenceGap(
                f"seq {high_seq} was applied to another mutation (hlc {high_hlc}): this "
                f"outbox is older than the server's; renumber it from {high_seq + 1}",
                field=f"mutations[{index}].hlc",
                expected=high_seq + 1,
                high_hlc=high_hlc,
            )
        if previous is not None and mutation.seq != previous + 1:
            raise SequenceGap(
                f"seq must be contiguous: expected {previous + 1}, got {mutation.seq}",
                field=f"mutations[{index}].seq",
                expected=previous + 1,
            )
        if mutation.seq > high_seq and (previous is None or previous <= high_seq) and mutation.seq != high_seq + 1:
            raise SequenceGap(
                f"the server has applied up to seq {high_seq}; expected {high_seq + 1}",
                field=f"mutations[{index}].seq",
                expected=high_seq + 1,
            )
        previous = mutation.seq


def check_mark(request: PushRequest, high_seq: int, high_hlc: str | None, server_ms: int) -> None:
    """A push without hello (``after_seq``) is taken only where hello would have changed nothing:
    the server stands exactly at the mark the laptop names, so its outbox cannot have been
    overtaken nor an answer lost, and no new mutation is stamped where hello's clock would have
    re-stamped it. Anything else refuses the whole batch, before anything is applied."""
    if request.after_seq is None:
        return
    if (request.after_seq, request.after_hlc) != (high_seq, high_hlc):
        raise HelloRequired(
            f"the server is at seq {high_seq}, not {request.after_seq}: say hello, then push again",
            field="after_seq",
            high_seq=high_seq,
        )
    for index, mutation in enumerate(request.mutations):
        if mutation.seq <= high_seq:
            continue
        try:
            check_stamps(mutation, server_ms)
        except SyncRejected as rejected:
            raise HelloRequired(
                f"{rejected.message}: say hello (it corrects the laptop's clock), then push again",
                field=f"mutations[{index}].{rejected.field}",
                high_seq=high_seq,
            ) from None


def push(
    conn: Tx,
    who: Principal,
    request: PushRequest,
    clock: ServerClock,
    now: dt.datetime | None = None,
    config: policy.Config = policy.DEFAULT,
) -> PushReply:
    """Apply a push batch (the caller holds the write transaction)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    high_seq, high_hlc = devices.high_water(conn, who.device_id, lock=True)
    server_ms = int(now.timestamp() * 1000)
    check_mark(request, high_seq, high_hlc, server_ms)
    check_contiguous(request, high_seq, high_hlc)
    ctx = effects.BatchContext(now, config, Pending())
    ctx.known_events = _known_events(conn, request, high_seq)
    ctx.keeper = who.device_id if request.keeps_events else None
    actor = audit.Actor(who.user_id, who.device_id)
    with pipelined(conn):  # one round trip on PostgreSQL: the lock, then what the batch reads under it
        chain = audit.Chain(conn)  # takes the change-log lock: what follows reads what it writes over
        take_prefetched = _prefetch(conn, who, request, high_seq, ctx)
        store.ask_version(conn)
    take_prefetched()
    first_new = high_seq + 1
    results: list[MutationResult] = []
    for mutation in request.mutations:
        if mutation.seq <= high_seq:
            results.append(_stored_answer(conn, who.device_id, mutation.seq))
            continue
        if isinstance(mutation, AppendEvent):
            result = _apply_event(conn, who, mutation, ctx, server_ms)
            if result.status != "rejected":
                _audit_pending(conn, now, actor, mutation, result, ctx, chain)
        else:
            ctx.flush(conn)  # a patch reads and writes the store itself (scope, merge)
            mark = store.change_mark(conn)
            result = _apply_patch(conn, who, mutation, ctx, server_ms)
            if result.status != "rejected":
                _audit(conn, now, actor, mutation, result, mark, chain)
        results.append(result)
        high_seq, high_hlc = mutation.seq, mutation.hlc
    with pipelined(conn):  # from here on the batch writes: one round trip on PostgreSQL
        ctx.flush(conn)  # the signature recheck reads the jobs' events from the store
        raised = {
            job_id: ids for job_id in sorted(ctx.touched_jobs) if (ids := effects.recheck_signatures(conn, job_id, ctx))
        }
        assert ctx.pending is not None
        audit.append_changes(
            chain, now, actor, "push.effect", ctx.pending.take_writes(), None, "", "signature recheck", _no_primary
        )
        ctx.flush(conn)
        chain.flush()
        if raised:
            results = _attach_signature_conflicts(results, request, raised, first_new)
        devices.store_answers(
            conn,
            who.device_id,
            [(r.seq, _answer_encoder.encode(r)) for r in results if r.seq >= first_new],
            now.isoformat(),
        )
        devices.set_high_water(conn, who.device_id, high_seq, high_hlc, now.isoformat())
        if ctx.kept:  # the laptop holds them now: a scope diff must remove them when they leave
            changes.hold(conn, who.device_id, "event", ctx.kept)
        store.write_version(conn)  # in this round trip, not in one of its own before the commit
    return PushReply(results=results, high_seq=high_seq, high_hlc=high_hlc, server_hlc=clock.tick())


def _no_primary(entity: str, record_id: str) -> None:
    return None


def _prefetch(
    conn: Tx, who: Principal, request: PushRequest, high_seq: int, ctx: effects.BatchContext
) -> Callable[[], None]:
    """Read what the batch's new events touch in a few queries instead of a few per event: their
    jobs, and for part swaps the equipment, the part, the van-stock row and both serials. The
    statements go now; the answers are taken in when the result is called."""
    keys: list[tuple[str, str]] = []
    serials: list[str] = []
    for mutation in request.mutations:
        if not isinstance(mutation, AppendEvent) or mutation.seq <= high_seq:
            continue
        event = mutation.event
        keys.append(("job", event.job_id))
        swap = event.payload
        if isinstance(swap, PartSwap):
            location = swap.location or van(who.user_id)
            keys += [("equipment", swap.equipment_id), ("part", swap.sku), ("stock", stock_id(location, swap.sku))]
            serials += [swap.serial_in, swap.serial_out]
    take_records = ctx.prefetch(conn, keys)
    assert ctx.pending is not None
    take_serials = ctx.pending.read_serials_later(conn, serials)

    def take() -> None:
        take_records()
        take_serials()

    return take


def _known_events(conn: Tx, request: PushRequest, high_seq: int) -> set[str]:
    """Which of the batch's new event ids the store already holds (a retried or re-enrolled
    laptop's events), in one query per 500 ids instead of one per event."""
    ids = [m.event.id for m in request.mutations if isinstance(m, AppendEvent) and m.seq > high_seq]
    return store.known_ids(conn, "event", ids)


def _audit(
    conn: Tx,
    now: dt.datetime,
    actor: audit.Actor,
    mutation: AppendEvent | PatchRecord,
    result: MutationResult,
    mark: int,
    chain: audit.Chain,
) -> None:
    """Chain the accepted mutation's record and every record its effects changed."""
    if isinstance(mutation, AppendEvent):
        kind, primary = "push.event", ("event", mutation.event.id)
    else:
        kind, primary = "push.patch", (mutation.entity, mutation.id)
    audit.append_changes_since(
        conn,
        mark,
        now,
        actor,
        kind,
        primary=primary,
        effect_kind="push.effect",
        ref=_ref(mutation, result),
        chain=chain,
    )


def _audit_pending(
    conn: Tx,
    now: dt.datetime,
    actor: audit.Actor,
    mutation: AppendEvent,
    result: MutationResult,
    ctx: effects.BatchContext,
    chain: audit.Chain,
) -> None:
    """``_audit`` for an event, whose writes wait in the batch: chained from memory, in order."""
    assert ctx.pending is not None
    pending = ctx.pending

    def current(entity: str, record_id: str) -> audit.Change | None:
        held = pending.get(entity, record_id)
        if held is None:
            return audit.stored_change(conn, entity, record_id)
        return audit.Change(entity, record_id, held.version, False, store.encode_record(held.record))

    audit.append_changes(
        chain,
        now,
        actor,
        "push.event",
        pending.take_writes(),
        ("event", mutation.event.id),
        "push.effect",
        _ref(mutation, result),
        current,
    )


def _ref(mutation: AppendEvent | PatchRecord, result: MutationResult) -> str:
    return f"seq {mutation.seq}: {result.status}" + (f" ({result.reason})" if result.reason else "")


def _attach_signature_conflicts(
    results: list[MutationResult], request: PushRequest, raised: dict[str, list[str]], first_new: int
) -> list[MutationResult]:
    """Report a signature conflict on the batch's last accepted event of that job."""
    out = list(results)
    pending = dict(raised)
    for index in range(len(out) - 1, -1, -1):
        mutation, result = request.mutations[index], out[index]
        if (
            isinstance(mutation, AppendEvent)
            and mutation.seq >= first_new
            and result.status != "rejected"
            and mutation.event.job_id in pending
        ):
            ids = pending.pop(mutation.event.job_id)
            out[index] = msgspec.structs.replace(result, status="conflict", conflicts=[*result.conflicts, *ids])
    return out


def _stored_answer(conn: Tx, device_id: str, seq: int) -> MutationResult:
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


def _apply_event(
    conn: Tx, who: Principal, mutation: AppendEvent, ctx: effects.BatchContext, server_ms: int
) -> MutationResult:
    """One event, with no savepoint: every refusal comes before its first write (the checks,
    then the effects, which refuse nothing), and its writes wait in ``ctx.pending`` anyway."""
    try:
        check_stamps(mutation, server_ms)
        return _append_event(conn, who, mutation, ctx)
    except SyncRejected as rejected:
        return _rejected(mutation, rejected)


def _apply_patch(
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
