"""Conflict records: the decisions merge rules made that a person should see.

Each is an ordinary record (entity ``conflict``) so that it syncs to the engineer's laptop and
shows in the dispatcher's queue, and its resolution syncs back like any other change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sync_protocol import Conflict, Party, sentences, uuid7
from sync_protocol.merge import FieldConflict, FieldVersion, Writer
from .storage import records as store
from .storage import Tx


def party(who: FieldVersion | Writer) -> Party:
    return Party(user=who.user, device=who.device, side=who.side, hlc=who.hlc)


def new_conflict(now: dt.datetime, **fields: Any) -> Conflict:
    """A conflict record, not stored yet (a push batch stores it with its other writes)."""
    return Conflict(id=uuid7(), created_at=now, **fields)


def raise_conflict(conn: Tx, now: dt.datetime, **fields: Any) -> str:
    """Record a conflict; returns its id."""
    conflict = new_conflict(now, **fields)
    store.put(conn, conflict)
    return conflict.id


def field_conflict(
    conn: Tx, now: dt.datetime, entity: str, record_id: str, fc: FieldConflict, engineer: str | None
) -> str:
    return raise_conflict(
        conn,
        now,
        kind="field",
        record_entity=entity,
        record_id=record_id,
        field=fc.field,
        engineer=engineer,
        kept=fc.kept,
        other=fc.other,
        kept_by=party(fc.kept_by),
        other_by=party(fc.other_by),
        rule=fc.rule,
        detail=sentences.say(sentences.FIELD_BOTH_SIDES, field=fc.field, entity=entity, id=record_id),
    )


def open_conflict(conn: Tx, kind: str, job_id: str, engineer: str | None) -> str | None:
    """An open conflict of this kind already raised for this job and engineer, if any."""
    return store.open_conflict(conn, kind, job_id, engineer)
