"""The outbox: every change recorded on the laptop, numbered, until the server answers it.

A mutation gets its ``seq`` (the device's next number) and a fresh hybrid-logical-clock stamp
when it is recorded, in the same transaction that stores it, and keeps both forever: a retry
sends the very same mutation, which is what lets the server apply it exactly once. An answer
moves the mutation to ``answers`` in the transaction that records the answer.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Callable, Iterator, NamedTuple

import msgspec

from sync_protocol import AppendEvent, Clock, ClockDriftError, Mutation, MutationResult, PatchRecord
from sync_protocol.records import JobEvent, as_appended

from . import clock as wall
from .store import get_meta, now_iso, set_meta

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Mutation)


class Pending(NamedTuple):
    seq: int
    mutation: AppendEvent | PatchRecord
    size: int


def clock(conn: sqlite3.Connection) -> Clock:
    """The laptop's hybrid logical clock, on its wall clock corrected by the server's (``clock.py``)."""
    return Clock(last=get_meta(conn, "hlc"), now_ms=lambda: wall.now_ms(conn))


def tick(conn: sqlite3.Connection) -> str:
    """A fresh clock stamp, persisted in the caller's transaction."""
    c = clock(conn)
    stamp = c.tick()
    set_meta(conn, "hlc", stamp)
    return stamp


def observe(conn: sqlite3.Connection, remote: str) -> None:
    """Learn the server's time and adopt its clock. A server far ahead means this laptop's wall
    clock is wrong: jump to the server's time rather than refuse it (the clock only ever moves
    forward; one running ahead is put right by ``restamp``)."""
    wall.learn(conn, remote)
    c = clock(conn)
    try:
        c.observe(remote)
    except ClockDriftError:
        c = Clock(last=max(c.last, remote))
        c.tick()
    set_meta(conn, "hlc", c.last)


def append(
    conn: sqlite3.Connection, build: Callable[[int, str], AppendEvent | PatchRecord]
) -> AppendEvent | PatchRecord:
    """Record one mutation: next seq, fresh stamp, stored, all in the caller's transaction."""
    seq = int(get_meta(conn, "next_seq", "1") or 1)
    mutation = build(seq, tick(conn))
    _insert(conn, mutation)
    set_meta(conn, "next_seq", str(seq + 1))
    return mutation


def _insert(conn: sqlite3.Connection, mutation: AppendEvent | PatchRecord) -> None:
    if isinstance(mutation, AppendEvent):
        keys = ("event", "event", mutation.event.id, mutation.event.job_id)
    else:
        keys = ("patch", mutation.entity, mutation.id, mutation.id if mutation.entity == "job" else None)
    conn.execute(
        "INSERT INTO outbox(seq, op, entity, record_id, job_id, hlc, body, created_at) VALUES (?,?,?,?,?,?,?,?)",
        (mutation.seq, *keys, mutation.hlc, _encoder.encode(mutation), now_iso()),
    )


def pending(conn: sqlite3.Connection, limit: int | None = None, max_bytes: int | None = None) -> list[Pending]:
    """The oldest unanswered mutations, in seq order, at most ``limit`` and about ``max_bytes``."""
    out: list[Pending] = []
    total = 0
    sql = "SELECT seq, body FROM outbox ORDER BY seq"
    for row in conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ()):
        size = len(row["body"])
        if out and max_bytes is not None and total + size > max_bytes:
            break
        out.append(Pending(row["seq"], _decoder.decode(row["body"]), size))
        total += size
    return out


def pending_bodies(
    conn: sqlite3.Connection, limit: int | None = None, max_bytes: int | None = None
) -> list[tuple[int, bytes]]:
    """``pending`` as the stored MessagePack of each mutation, ``(seq, body)``: what a push sends,
    without decoding and re-encoding every mutation (``_insert`` stored them encoded)."""
    out: list[tuple[int, bytes]] = []
    total = 0
    sql = "SELECT seq, body FROM outbox ORDER BY seq"
    for seq, body in conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ()):
        if out and max_bytes is not None and total + len(body) > max_bytes:
            break
        out.append((seq, body))
        total += len(body)
    return out


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def first_seq(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT min(seq) FROM outbox").fetchone()
    return row[0]


_SETTLE = (
    "INSERT OR REPLACE INTO answers(device_id, seq, op, entity, record_id, job_id, status, reason, "
    "field, message, version, conflicts, body, answered_at) "
    "SELECT ?, seq, op, entity, record_id, job_id, ?, ?, ?, ?, ?, ?, "
    "CASE WHEN ? = 'rejected' THEN body END, ? FROM outbox WHERE seq=?"
)


def settle(conn: sqlite3.Connection, results: list[MutationResult]) -> None:
    """Move answered mutations from the outbox to ``answers`` (the caller's transaction).

    Two statements for the whole reply. A seq no longer in the outbox was answered before (a
    replayed answer): it selects no row, so nothing is written for it. Only a seq's first result
    counts, as when the results were settled one by one."""
    now, device = now_iso(), get_meta(conn, "device_id") or ""
    first: dict[int, MutationResult] = {}
    for result in results:
        first.setdefault(result.seq, result)
    conn.executemany(
        _SETTLE,
        [
            (
                device,
                r.status,
                r.reason,
                r.field,
                r.message,
                r.version,
                json.dumps(r.conflicts) if r.conflicts else "[]",
                r.status,
                now,
                r.seq,
            )
            for r in first.values()
        ],
    )
    lo, hi = min(first, default=0), max(first, default=-1)
    _note_accepted(conn, lo, hi, {r.seq for r in first.values() if r.status == "rejected"})
    if hi - lo + 1 == len(first):  # the usual reply: one contiguous run of seqs, deleted as a range
        conn.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (lo, hi))
    else:
        conn.executemany("DELETE FROM outbox WHERE seq=?", [(seq,) for seq in first])


def kept_events(conn: sqlite3.Connection, results: list[MutationResult]) -> list[tuple[JobEvent, int]]:
    """The events these answers stored (applied, or applied with a conflict), each with its new
    version, as the server stores them (``as_appended``): what this laptop keeps instead of
    pulling them back (``PushRequest.keeps_events``). Read before ``settle`` moves them out."""
    stored: dict[int, int] = {
        r.seq: r.version for r in results if r.status in ("applied", "conflict") and not r.reason and r.version
    }
    if not stored:
        return []
    user, device = get_meta(conn, "user_id") or "", get_meta(conn, "device_id") or ""
    out: list[tuple[JobEvent, int]] = []
    rows = conn.execute(
        "SELECT seq, body FROM outbox WHERE op='event' AND seq BETWEEN ? AND ?", (min(stored), max(stored))
    )
    for seq, body in rows:
        version = stored.get(seq)
        if version is None:
            continue
        mutation = _decoder.decode(body)
        if isinstance(mutation, AppendEvent):
            out.append((as_appended(mutation.event, user, device), version))
    return out


def unknown_versions(results: list[MutationResult]) -> bool:
    """Did the server answer a mutation from before its answers were cleaned up
    (``already_applied``)? An event among them may be one this laptop keeps without knowing
    its version, which no pull will send: the laptop pulls its scope from the start then."""
    return any(r.reason == "already_applied" for r in results)


def overtaken(conn: sqlite3.Connection, high_seq: int, high_hlc: str | None) -> bool:
    """Has the server applied, under this device's seqs, mutations this store does not hold?

    The protocol's renumbering rule (docs/protocol.md): yes when the server's ``high_seq`` is at
    or above the next seq this laptop would issue, or when the laptop's pending mutation at
    ``high_seq`` is not the one applied there (another ``hlc``). Both happen only to a store
    restored from an older copy: every seq below the copy's next seq names the same mutation on
    both sides, so the mutation at ``high_seq`` tells which case this is.
    """
    if high_seq >= int(get_meta(conn, "next_seq", "1") or 1):
        return True
    row = conn.execute("SELECT hlc FROM outbox WHERE seq=?", (high_seq,)).fetchone()
    return row is not None and high_hlc is not None and row[0] != high_hlc


ACKED_KEY = "hlc_acked"


def _note_accepted(conn: sqlite3.Connection, lo: int, hi: int, rejected: set[int]) -> None:
    """Remember the highest stamp the server accepted from this laptop: a clock put back from a
    wrong time (``restamp``) never goes below it, so this device's stamps keep their order."""
    stamps = [
        h
        for seq, h in conn.execute("SELECT seq, hlc FROM outbox WHERE seq BETWEEN ? AND ?", (lo, hi))
        if seq not in rejected
    ]
    if stamps and max(stamps) > (get_meta(conn, ACKED_KEY) or ""):
        set_meta(conn, ACKED_KEY, max(stamps))


def renumber_above(conn: sqlite3.Connection, high_seq: int) -> int:
    """The server has applied seqs this laptop never answered to itself: its store was restored
    from an older copy. Move the pending mutations above the server's mark (events are protected
    by their ids, patches set values) so they are not mistaken for answered ones."""
    rows = conn.execute("SELECT seq, body FROM outbox ORDER BY seq").fetchall()
    conn.execute("DELETE FROM outbox WHERE 1")  # re-inserted below, renumbered
    seq = high_seq
    for row in rows:
        seq += 1
        mutation = msgspec.structs.replace(_decoder.decode(row["body"]), seq=seq)
        _insert(conn, mutation)
    set_meta(conn, "next_seq", str(seq + 1))
    return len(rows)


def replace(conn: sqlite3.Connection, mutations: list[AppendEvent | PatchRecord]) -> None:
    """Store new versions of pending mutations under their seqs (``restamp``: new stamps only)."""
    conn.executemany(
        "UPDATE outbox SET hlc=?, body=? WHERE seq=?", [(m.hlc, _encoder.encode(m), m.seq) for m in mutations]
    )


def mutations(conn: sqlite3.Connection) -> Iterator[AppendEvent | PatchRecord]:
    for row in conn.execute("SELECT body FROM outbox ORDER BY seq"):
        yield _decoder.decode(row["body"])


MARK_KEY = "push_mark"


def remember_mark(conn: sqlite3.Connection, high_seq: int, high_hlc: str | None) -> None:
    """Where a push answer or a hello left the server (``high_seq`` and the ``hlc`` applied
    there, null for a device that has applied nothing), for this device; a server that does not
    say ``high_hlc`` takes no push without hello: nothing is kept."""
    set_meta(conn, MARK_KEY, _mark_value(conn, high_seq, high_hlc))


def knows_mark(conn: sqlite3.Connection, high_seq: int, high_hlc: str | None) -> bool:
    """Whether ``remember_mark`` would change nothing (a hello then writes nothing for it)."""
    return get_meta(conn, MARK_KEY) == _mark_value(conn, high_seq, high_hlc)


def _mark_value(conn: sqlite3.Connection, high_seq: int, high_hlc: str | None) -> str | None:
    device = get_meta(conn, "device_id")
    if not device or (high_hlc is None and high_seq != 0):
        return None
    return json.dumps([device, high_seq, high_hlc])


def push_mark(conn: sqlite3.Connection) -> tuple[int, str | None] | None:
    """The mark a push may name instead of saying hello (``after_seq``, ``after_hlc``): the last
    push answer's or hello's, when it was this device's and the outbox continues right after it."""
    text = get_meta(conn, MARK_KEY)
    if not text:
        return None
    try:
        device, seq, stamp = json.loads(text)
    except (ValueError, TypeError):
        return None
    if device != get_meta(conn, "device_id") or not isinstance(seq, int):
        return None
    if not isinstance(stamp, str) and not (stamp is None and seq == 0):
        return None
    if first_seq(conn) != seq + 1:
        return None
    return seq, stamp
