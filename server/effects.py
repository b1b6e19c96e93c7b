"""What an accepted job event does to the rest of the store.

Events themselves are never merged; their effects follow the conflicts table of DESIGN.md:
work on a job that was cancelled or re-assigned is kept and flagged (``job_state``), stock
deltas commute and a deficit is flagged (``stock``), one serial installed at two places is
flagged (``serial``), and a signature whose sheet changed afterwards is kept but marked as
signing an older version (``signature``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable

import msgspec

from sync_protocol import (
    Job,
    JobEvent,
    PartSwap,
    Record,
    Resolution,
    Signature,
    Stock,
    after_event,
    check_signature,
    entity_of,
    kind_of,
    sheet_hash,
    signature_in_words,
    stock_after,
    stock_id,
    van,
)
from sync_protocol import checks, sentences
from sync_protocol.merge import Writer, serial_clash
from sync_protocol.signatures import RESIGN_REQUESTED
from sync_protocol.states import CLOSED_TO_WORK

from . import auth, conflicts, policy
from .auth import Principal
from .storage import records as store
from .storage import Tx
from .storage.batch import Pending


class BatchContext:
    """State shared by the mutations of one push: the time, the jobs whose signature to recheck,
    and what the batch looked up, so that 5,000 swaps on 200 jobs read each job once.

    With ``pending`` (a push), the batch's writes wait in memory (``storage.batch``) and are
    written set-based by ``flush``; reads see them first. Without it (an office edit), every
    write goes to the store at once. The lookups are dropped (``forget``) whenever a mutation
    patches a record, which may leave them older than the store.
    """

    def __init__(
        self, now: dt.datetime, config: policy.Config = policy.DEFAULT, pending: Pending | None = None
    ) -> None:
        self.now = now
        self.config = config  # the severity policy: a corrected severity moves the deadlines
        self.touched_jobs: set[str] = set()
        self.signed_jobs: set[str] = set()
        self.known_events: set[str] = set()  # event ids the store holds (see push._known_events)
        # The pushing device, when it keeps the events it appends (``PushRequest.keeps_events``).
        self.keeper: str | None = None
        self.kept: list[tuple[str, str]] = []  # (event id, job id) appended for the keeper
        self.pending = pending
        self._stored: dict[tuple[str, str], store.Stored[Any] | None] = {}

    def get(self, conn: Tx, entity: str, record_id: str) -> store.Stored[Any] | None:
        """``store.get`` through the batch's writes and lookups (jobs, equipment, stock rows)."""
        key = (entity, record_id)
        if self.pending is not None and key in self.pending.records:
            return self.pending.records[key]
        if key not in self._stored:
            self._stored[key] = store.get(conn, entity, record_id)
        return self._stored[key]

    def prefetch(self, conn: Tx, keys: Iterable[tuple[str, str]]) -> Callable[[], None]:
        """Look up many records at once, ahead of the mutations needing them, in two steps
        (``store.get_many_later``): the statements now, the records taken in when the result
        is called."""
        found = store.get_many_later(conn, [k for k in keys if k not in self._stored])
        return lambda: self._stored.update(found())

    def put(
        self,
        conn: Tx,
        record: Record,
        base: store.Stored[Any] | None = None,
        *,
        writer: Writer | None = None,
        origin: str | None = None,
    ) -> int:
        """``store.put``, or into the batch's pending writes; returns the record's version.
        ``origin`` marks a device's own kept event (``Pending.put``); only a batch keeps it."""
        if self.pending is not None:
            return self.pending.put(conn, record, base, writer=writer, origin=origin)
        return store.put(conn, record, base, writer=writer)

    def raise_conflict(self, conn: Tx, **fields: Any) -> str:
        """``conflicts.raise_conflict`` through ``put``."""
        conflict = conflicts.new_conflict(self.now, **fields)
        self.put(conn, conflict)
        return conflict.id

    def open_conflict(self, conn: Tx, kind: str, job_id: str, engineer: str | None) -> str | None:
        found = None if self.pending is None else self.pending.open_conflict(kind, job_id, engineer)
        return found or conflicts.open_conflict(conn, kind, job_id, engineer)

    def serial_holder(self, conn: Tx, serial: str) -> tuple[str, str] | None:
        if self.pending is not None:
            return self.pending.serial_holder(conn, serial)
        return store.serial_holder(conn, serial)

    def swap_serial(self, conn: Tx, swap: PartSwap, event_id: str, job_id: str) -> None:
        if self.pending is not None:
            self.pending.swap_serial(conn, swap.equipment_id, swap.serial_out, swap.serial_in, event_id, job_id)
        else:
            store.swap_serial(conn, swap.equipment_id, swap.serial_out, swap.serial_in, event_id, job_id)

    def flush(self, conn: Tx) -> None:
        """Write the pending writes to the store (before SQL must see them); the lookups keep
        what was written, which is what the store now holds."""
        if self.pending is None:
            return
        self._stored.update(self.pending.records)
        self.pending.flush(conn)

    def saved(self, stored: store.Stored[Any]) -> None:
        self._stored[(entity_of(stored.record), stored.record.id)] = stored

    def forget(self) -> None:
        self._stored.clear()


def check_event(conn: Tx, job: Job, event: JobEvent, ctx: BatchContext) -> None:
    """Refuse an event that is incomplete or names what does not exist (nothing is written then):
    ``sync_protocol.checks.check_event``, over the batch's lookups."""

    def find(entity: str, record_id: str) -> Record | None:
        stored = ctx.get(conn, entity, record_id)
        return None if stored is None else stored.record

    checks.check_event(job, event.payload, find, author=event.author)


def apply_effects(conn: Tx, who: Principal, job: Job, event: JobEvent, ctx: BatchContext) -> list[str]:
    """Apply an accepted event's effects; returns the ids of conflicts it raised."""
    raised: list[str] = []
    raised += _job_state(conn, who, job, event, ctx)
    if isinstance(event.payload, PartSwap):
        raised += _stock(conn, who, job, event, event.payload, ctx)
        raised += _serials(conn, who, job, event, event.payload, ctx)
    ctx.touched_jobs.add(job.id)
    if isinstance(event.payload, Signature):
        ctx.signed_jobs.add(job.id)
    return raised


def _job_state(conn: Tx, who: Principal, job: Job, event: JobEvent, ctx: BatchContext) -> list[str]:
    kind = kind_of(event.payload)
    outcome = event.payload.outcome if isinstance(event.payload, Resolution) else None
    mine = not who.is_engineer or job.assignee == who.user_id
    transition = after_event(job.status, kind, mine, outcome)
    if transition.violation is None:
        if transition.status != job.status:
            _save_job(conn, msgspec.structs.replace(job, status=transition.status), ctx)
        return []
    flag = "work_after_cancel" if job.status in CLOSED_TO_WORK else "work_after_reassign"
    if flag not in job.flags:
        _save_job(conn, msgspec.structs.replace(job, flags=[*job.flags, flag]), ctx)
    existing = ctx.open_conflict(conn, "job_state", job.id, who.user_id)
    if existing:
        return [existing]
    return [
        ctx.raise_conflict(
            conn,
            kind="job_state",
            record_entity="job",
            record_id=job.id,
            job_id=job.id,
            engineer=who.user_id,
            kept=job.status,
            other=kind,
            rule=str(sentences.RULE_JOB_STATE),
            detail=sentences.say(
                sentences.JOB_STATE if mine else sentences.JOB_STATE_ASSIGNED_ELSEWHERE,
                violation=transition.violation,
                who=who.display_name,
                kind=kind,
                number=job.number,
                status=job.status,
                assignee=job.assignee_name or job.assignee,
            ),
        )
    ]


def _save_job(conn: Tx, job: Job, ctx: BatchContext) -> None:
    stored = ctx.get(conn, "job", job.id)
    version = ctx.put(conn, job, stored)
    if stored is not None:
        ctx.saved(store.Stored(job, version, False, stored.field_versions))
    else:
        ctx.forget()


def _stock(conn: Tx, who: Principal, job: Job, event: JobEvent, swap: PartSwap, ctx: BatchContext) -> list[str]:
    location = swap.location or van(event.author or who.user_id)
    sid = stock_id(location, swap.sku)
    stored = ctx.get(conn, "stock", sid)
    qty = stored.record.qty if stored else 0
    outcome = stock_after(qty, -swap.qty)
    row = Stock(id=sid, location=location, sku=swap.sku, qty=outcome.qty)
    version = ctx.put(conn, row, stored)
    ctx.saved(store.Stored(row, version, False, stored.field_versions if stored else {}))
    if not outcome.negative:
        return []
    return [
        ctx.raise_conflict(
            conn,
            kind="stock",
            record_entity="stock",
            record_id=sid,
            field="qty",
            job_id=job.id,
            engineer=who.user_id if who.is_engineer else None,
            kept=outcome.qty,
            other=qty,
            rule=str(sentences.RULE_STOCK),
            detail=sentences.say(sentences.STOCK_TAKEN, qty=swap.qty, sku=swap.sku, location=location, held=qty),
        )
    ]


def _serials(conn: Tx, who: Principal, job: Job, event: JobEvent, swap: PartSwap, ctx: BatchContext) -> list[str]:
    row = ctx.serial_holder(conn, swap.serial_in)
    raised: list[str] = []
    if row is not None and serial_clash(swap.serial_in, row[0], swap.equipment_id):
        raised.append(
            ctx.raise_conflict(
                conn,
                kind="serial",
                record_entity="equipment",
                record_id=swap.equipment_id,
                field="serial_in",
                job_id=job.id,
                engineer=who.user_id if who.is_engineer else None,
                kept=swap.serial_in,
                other=row[0],
                rule=str(sentences.RULE_SERIAL),
                detail=sentences.say(
                    sentences.SERIAL_CLASH,
                    serial=swap.serial_in,
                    equipment=swap.equipment_id,
                    job=job.number,
                    other_equipment=row[0],
                    other_job=row[1],
                ),
            )
        )
    ctx.swap_serial(conn, swap, event.id, job.id)
    return raised


def recheck_signatures(conn: Tx, job_id: str, ctx: BatchContext) -> list[str]:
    """Recompute the sheet hash and mark the job's signature valid or outdated.

    A job still at ``signature_state`` "none" that got no signature in this batch has never been
    signed (every signature arrives through a push, which sets the state), so its events are
    not read: a push of thousands of swaps would otherwise decode every event of every job.
    """
    stored = ctx.get(conn, "job", job_id)
    if stored is None:
        return []
    job: Job = stored.record
    if job.signature_state == "none" and job_id not in ctx.signed_jobs:
        return []
    events = store.job_events(conn, job_id)
    check = check_signature(job, events)
    if check is None:
        return []
    state = "valid" if check.valid else "outdated"
    if state == job.signature_state:
        return []
    if check.valid:  # signed as it stands: a request to have it re-signed is met
        flags = [f for f in job.flags if f != RESIGN_REQUESTED]
        _save_job(conn, msgspec.structs.replace(job, signature_state=state, flags=flags), ctx)
        return []
    _save_job(conn, msgspec.structs.replace(job, signature_state=state), ctx)
    latest = check.signature
    sig: Signature = latest.payload  # type: ignore[assignment]
    names = auth.display_names(conn, {e.author for e in check.added})
    return [
        ctx.raise_conflict(
            conn,
            kind="signature",
            record_entity="job",
            record_id=job.id,
            field="sheet_hash",
            job_id=job.id,
            engineer=latest.author or None,
            kept=sig.sheet_hash,
            other=sheet_hash(job, events),
            kept_by=conflicts.Party(user=latest.author, device=latest.device_id, side="field", hlc=latest.hlc),
            rule=str(sentences.RULE_SIGNATURE),
            detail=signature_in_words(check, names),
        )
    ]
