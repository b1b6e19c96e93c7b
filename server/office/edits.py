"""Every office change to a record goes through the laptops' merge path.

An edit in a page or under ``/api/v1`` becomes a ``PatchRecord`` made on the version the form
(or the integration) last saw, applied by ``push.apply_patch`` with the office as the writer: fields
changed only here are applied, fields a laptop changed concurrently are merged by the same
ownership rules, and a clash lands in the conflict queue. The change takes the next store
version, so the laptops in scope pull it like any other change.

Creating a record has nothing to merge: it is stored under a new version if the id is free.
Stock quantities are not patched at all (``qty`` is derived): the office records a delta, which
commutes with the laptops' part swaps exactly as theirs commute with each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from sync_protocol import (
    InvalidValue,
    NotFound,
    PatchRecord,
    Record,
    Stock,
    SyncRejected,
    entity_of,
    stock_after,
)
from sync_protocol.i18n import N_
from sync_protocol.codec import revalidated
from sync_protocol import sentences
from sync_protocol.hashing import SHEET_JOB_FIELDS
from sync_protocol.office import EditReply

from .. import conflicts, effects, policy
from ..auth import Principal
from ..push import ServerClock, apply_patch
from ..storage import records as store
from ..storage import Tx

# SyncRejected reasons as the office API's typed errors.
_REJECTED = {"unknown_record": NotFound, "unknown_entity": NotFound}


def office_patch(
    conn: Tx,
    who: Principal,
    clock: ServerClock,
    entity: str,
    record_id: str,
    base_version: int,
    fields: dict[str, Any],
    now: dt.datetime | None = None,
    config: policy.Config = policy.DEFAULT,
) -> EditReply:
    """Apply an office edit made on ``base_version`` through the sync merge (caller holds the write)."""
    if not fields:
        stored = store.get(conn, entity, record_id)
        if stored is None:
            raise NotFound(N_("no record {id}", id=record_id), field="id")
        return EditReply(
            entity=entity,
            id=record_id,
            status="unchanged",
            version=stored.version,
            message=str(sentences.NOTHING_CHANGED),
        )
    mutation = PatchRecord(
        seq=1, hlc=clock.tick(), entity=entity, id=record_id, base_version=base_version, fields=fields
    )
    ctx = effects.BatchContext(now or dt.datetime.now(dt.timezone.utc), config)
    try:
        result = apply_patch(conn, who, mutation, ctx)
    except SyncRejected as rejected:
        error = _REJECTED.get(rejected.reason, InvalidValue)
        field = (rejected.field or "").removeprefix("fields.") or None
        raise error(rejected.message, field=field, reason=rejected.reason) from None
    raised = list(result.conflicts)
    if entity == "job" and set(fields) & set(SHEET_JOB_FIELDS):
        # The customer signed the sheet's fault and equipment too: a correction after signing
        # marks the signature as signing an older version, as a laptop's late event would.
        raised += effects.recheck_signatures(conn, record_id, ctx)
    status = "conflict" if raised else result.status
    version = store.get(conn, entity, record_id).version if raised else result.version  # type: ignore[union-attr]
    return EditReply(
        entity=entity,
        id=record_id,
        status=status,  # type: ignore[arg-type]
        version=version or 0,
        conflicts=raised,
        message=result.message or (str(sentences.SIGNATURE_NOW_OLDER) if raised else ""),
    )


def create_record(conn: Tx, record: Record) -> int:
    """Store a new record under the next version; an id already in use is refused."""
    record = revalidated(record)
    entity = entity_of(record)
    if store.get(conn, entity, record.id, include_deleted=True) is not None:
        raise InvalidValue(N_("{id} already exists: edit it instead", id=record.id), field="id")
    return store.put(conn, record)


def adjust_stock(conn: Tx, who: Principal, stock_id: str, delta: int, now: dt.datetime | None = None) -> EditReply:
    """Goods in or out of a stock location, as a commuting delta; a deficit is flagged."""
    stored = store.get(conn, "stock", stock_id)
    if stored is None:
        raise NotFound(N_("no stock row {id}", id=stock_id), field="id")
    if delta == 0:
        return EditReply(entity="stock", id=stock_id, status="unchanged", version=stored.version)
    row: Stock = stored.record
    outcome = stock_after(row.qty, delta)
    version = store.put(conn, msgspec.structs.replace(row, qty=outcome.qty), stored)
    raised: list[str] = []
    if outcome.negative:
        raised.append(
            conflicts.raise_conflict(
                conn,
                now or dt.datetime.now(dt.timezone.utc),
                kind="stock",
                record_entity="stock",
                record_id=stock_id,
                field="qty",
                kept=outcome.qty,
                other=row.qty,
                kept_by=conflicts.Party(user=who.user_id, device=who.device_id, side="office"),
                rule=str(sentences.RULE_STOCK),
                detail=sentences.say(
                    sentences.STOCK_ISSUED, qty=-delta, sku=row.sku, location=row.location, held=row.qty
                ),
            )
        )
    return EditReply(
        entity="stock", id=stock_id, status="conflict" if raised else "applied", version=version, conflicts=raised
    )
