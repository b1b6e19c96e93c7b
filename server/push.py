"""Applying a push: every mutation exactly once, the whole batch in one transaction.

Per device the server keeps the highest applied ``seq`` (forever) and each mutation's answer
(for a retention period). A retried batch gets the stored answers back instead of a second
application; the answers, the effects and the new high-water mark commit together, so a crash
at any point leaves either all of a batch or none of it.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import NamedTuple

import msgspec

from sync_protocol import (
    AppendEvent,
    MutationResult,
    PatchRecord,
    PushReply,
    HelloRequired,
    PartSwap,
    PushRequest,
    SequenceGap,
    SyncRejected,
    stock_id,
    van,
)
from sync_protocol.hlc import Clock

from . import effects, mutations, policy
from .auth import Principal
from .storage import Tx, audit, changes, devices, lock_change_log, pipelined, shares_change_log
from .storage import records as store
from .storage.batch import Pending

_answer_encoder = msgspec.msgpack.Encoder()


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
            mutations.check_stamps(mutation, server_ms)
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
    batch = Batch(conn, who, request, high_seq, now, config, server_ms)
    worked = _work_out_first(batch)
    if worked is None:
        lock_change_log(conn)  # before the batch reads anything it writes over
        worked = batch.work_out(provisional=False)
    ctx, results, trails = worked
    versions = ctx.settle(conn)
    results = [_renumbered(r, versions) for r in results]
    actor = audit.Actor(who.user_id, who.device_id)
    chain = audit.Chain(conn)
    for trail in trails:
        trail.renumbered(versions).append_to(chain, now, actor)
    first_new = high_seq + 1
    new = [m for m in request.mutations if m.seq >= first_new]
    if new:
        high_seq, high_hlc = new[-1].seq, new[-1].hlc
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
    return PushReply(results=results, high_seq=high_seq, high_hlc=high_hlc, server_hlc=clock.tick())


def _work_out_first(batch: "Batch") -> "Worked | None":
    """Work the batch out before taking the change-log lock, then take it and keep the result
    if no transaction committed meanwhile changed what the batch read (None: work it out again,
    under the lock). Several server processes then overlap their pushes' checks and effects, and
    hold the lock only for the writes. A batch with a patch is worked out under the lock: a
    patch reads the store in SQL halfway (its scope, the three-way merge). So is every batch
    where nothing else writes meanwhile (SQLite): there is nothing to overlap."""
    if not shares_change_log(batch.conn):
        return None
    if any(isinstance(m, PatchRecord) and m.seq > batch.high_seq for m in batch.request.mutations):
        return None
    since = store.stored_version(batch.conn)
    worked = batch.work_out(provisional=True)
    upto = store.hold_versions(batch.conn)
    return None if worked.ctx.outdated(batch.conn, since, upto) else worked


class Worked(NamedTuple):
    ctx: effects.BatchContext
    results: list[MutationResult]
    trails: list[audit.Trail]


class Batch(NamedTuple):
    """One push batch and what applying it needs, worked out (``work_out``) once or twice."""

    conn: Tx
    who: Principal
    request: PushRequest
    high_seq: int
    now: dt.datetime
    config: policy.Config
    server_ms: int

    def work_out(self, provisional: bool) -> Worked:
        """Check and apply every new mutation into memory (a patch into the store), with the
        answers and the audit rows they make; nothing of it is chained or written yet."""
        conn, who, request, high_seq = self.conn, self.who, self.request, self.high_seq
        ctx = effects.BatchContext(self.now, self.config, Pending(provisional=provisional))
        ctx.known_events = _known_events(conn, request, high_seq)
        ctx.keeper = who.device_id if request.keeps_events else None
        _prefetch(conn, who, request, high_seq, ctx)
        results: list[MutationResult] = []
        trails: list[audit.Trail] = []
        for mutation in request.mutations:
            if mutation.seq <= high_seq:
                results.append(mutations.stored_answer(conn, who.device_id, mutation.seq))
                continue
            if isinstance(mutation, AppendEvent):
                result = mutations.apply_event(conn, who, mutation, ctx, self.server_ms)
                if result.status != "rejected":
                    trails.append(_event_trail(conn, mutation, result, ctx))
            else:
                ctx.flush(conn)  # a patch reads and writes the store itself (scope, merge)
                mark = store.change_mark(conn)
                result = mutations.apply_patch_in_savepoint(conn, who, mutation, ctx, self.server_ms)
                if result.status != "rejected":
                    trails.append(_patch_trail(conn, mutation, result, mark))
            results.append(result)
        return Worked(ctx, results, trails)


def _renumbered(result: MutationResult, versions: dict[int, int]) -> MutationResult:
    if result.version in versions:
        return msgspec.structs.replace(result, version=versions[result.version])
    return result


def _no_primary(entity: str, record_id: str) -> None:
    return None


def _prefetch(conn: Tx, who: Principal, request: PushRequest, high_seq: int, ctx: effects.BatchContext) -> None:
    """Read what the batch's new events touch in a few queries instead of a few per event: their
    jobs, and for part swaps the equipment, the part, the van-stock row and both serials."""
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
    ctx.prefetch(conn, keys)
    assert ctx.pending is not None
    ctx.pending.read_serials(conn, serials)


def _known_events(conn: Tx, request: PushRequest, high_seq: int) -> set[str]:
    """Which of the batch's new event ids the store already holds (a retried or re-enrolled
    laptop's events), in one query per 500 ids instead of one per event."""
    ids = [m.event.id for m in request.mutations if isinstance(m, AppendEvent) and m.seq > high_seq]
    return store.known_ids(conn, "event", ids)


def _patch_trail(conn: Tx, mutation: PatchRecord, result: MutationResult, mark: int) -> audit.Trail:
    """The accepted patch's record and every record its effects changed, for the chain."""
    return audit.Trail.of(
        "push.patch",
        audit.changes_since(conn, mark),
        (mutation.entity, mutation.id),
        "push.effect",
        _ref(mutation, result),
        lambda entity, record_id: audit.stored_change(conn, entity, record_id),
    )


def _event_trail(conn: Tx, mutation: AppendEvent, result: MutationResult, ctx: effects.BatchContext) -> audit.Trail:
    """``_patch_trail`` for an event, whose writes wait in the batch, in order."""
    assert ctx.pending is not None
    pending = ctx.pending

    def current(entity: str, record_id: str) -> audit.Change | None:
        held = pending.get(entity, record_id)
        if held is None:
            return audit.stored_change(conn, entity, record_id)
        return audit.Change(entity, record_id, held.version, False, store.encode_record(held.record))

    return audit.Trail.of(
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
