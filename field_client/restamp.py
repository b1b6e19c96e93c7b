"""Putting right what the laptop recorded while its clock ran ahead of the server's.

The server refuses a mutation stamped more than ``MAX_DRIFT_MS`` ahead of its clock (it would win
every later merge) and an event dated ahead of it. Work recorded offline on a laptop whose clock
was hours fast must not be lost for that: before a push, the laptop learns the server's time
from the hello, and gives every pending mutation from the first one stamped too far ahead a
fresh stamp from its corrected clock, in outbox order (so their order is kept), never below a
stamp the server already accepted from it. An event dated too far ahead gets the time of its
new stamp. A pending signature that signed those events as they were is bound again to the
same events with their new stamps: the customer signed what was done, not the laptop's clock.

Nothing re-stamped here has reached the server (it was refused, or not sent yet), so no answer
and no applied mutation changes; ``seq`` numbers stay as they are.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import msgspec

from sync_protocol import AppendEvent, Clock, Job, JobEvent, PatchRecord, Signature, hlc, sheet_hash
from sync_protocol.hlc import MAX_DRIFT_MS

from . import clock as wall
from . import outbox, view
from .store import get_meta, set_meta

# Re-stamp what lies beyond half the bound: time passes between this hello and the push.
_MARGIN_MS = MAX_DRIFT_MS // 2


def _too_far(mutation: AppendEvent | PatchRecord, limit: int) -> bool:
    if hlc.wall_ms(mutation.hlc) > limit:
        return True
    if isinstance(mutation, AppendEvent):
        return hlc.wall_ms(mutation.event.hlc) > limit or _ms(mutation.event.at) > limit
    return False


def _ms(moment: dt.datetime) -> int:
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return 2**62


def needed(conn: sqlite3.Connection, server_hlc: str) -> bool:
    """Whether any pending mutation is stamped or dated too far ahead of the server's clock."""
    limit = hlc.wall_ms(server_hlc) + _MARGIN_MS
    return any(_too_far(m, limit) for m in outbox.mutations(conn))


def restamp(conn: sqlite3.Connection, server_hlc: str) -> int:
    """Learn the server's time and re-stamp what it would refuse (the caller's write
    transaction); returns how many mutations were re-stamped."""
    wall.learn(conn, server_hlc)
    limit = hlc.wall_ms(server_hlc) + _MARGIN_MS
    pending = [p.mutation for p in outbox.pending(conn)]
    first = next((i for i, m in enumerate(pending) if _too_far(m, limit)), None)
    if first is None:
        return 0
    floor = max([server_hlc, get_meta(conn, outbox.ACKED_KEY) or "", *(m.hlc for m in pending[:first])])
    fresh = Clock(last=floor, now_ms=lambda: wall.now_ms(conn))
    restamped: list[AppendEvent | PatchRecord] = []
    for mutation in pending[first:]:
        stamp = fresh.tick()
        if isinstance(mutation, AppendEvent):
            at = mutation.event.at
            if _ms(at) > limit:
                at = dt.datetime.fromtimestamp(hlc.wall_ms(stamp) / 1000, dt.timezone.utc)
            event = msgspec.structs.replace(mutation.event, hlc=stamp, at=at)
            restamped.append(msgspec.structs.replace(mutation, hlc=stamp, event=event))
        else:
            restamped.append(msgspec.structs.replace(mutation, hlc=stamp))
    restamped = _rebind_signatures(conn, restamped)
    outbox.replace(conn, restamped)
    set_meta(conn, "hlc", fresh.last)
    return len(restamped)


def _rebind_signatures(
    conn: sqlite3.Connection, mutations: list[AppendEvent | PatchRecord]
) -> list[AppendEvent | PatchRecord]:
    """A pending signature that was valid for the events it names is made valid for the same
    events as re-stamped; one that was already outdated stays outdated."""
    new = {m.event.id: m.event for m in mutations if isinstance(m, AppendEvent)}
    out: list[AppendEvent | PatchRecord] = []
    for mutation in mutations:
        if isinstance(mutation, AppendEvent) and isinstance(mutation.event.payload, Signature):
            mutation = _rebound(conn, mutation, new)
        out.append(mutation)
    return out


def _rebound(conn: sqlite3.Connection, mutation: AppendEvent, new: dict[str, JobEvent]) -> AppendEvent:
    signature = mutation.event.payload
    job = view.record(conn, "job", mutation.event.job_id)
    if not isinstance(signature, Signature) or not isinstance(job, Job):
        return mutation
    covered = [v.event for v in view.events(conn, mutation.event.job_id) if v.event.id in set(signature.event_ids)]
    if sheet_hash(job, covered) != signature.sheet_hash:
        return mutation
    rebound = sheet_hash(job, [new.get(e.id, e) for e in covered])
    payload = msgspec.structs.replace(signature, sheet_hash=rebound)
    return msgspec.structs.replace(mutation, event=msgspec.structs.replace(mutation.event, payload=payload))
