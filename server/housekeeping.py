"""Housekeeping: forget old push answers and old tombstones, without breaking exactly-once or pulls.

Push answers (``applied``): the protocol promises a retried mutation its stored answer "for a
retention period", and ``already_applied`` after that. Exactly-once rests on
``devices.high_seq``, which is never touched here, so deleting an old answer can only change
what a very late retry is told, never whether it is applied again.

Tombstones (``records.deleted=1``): removals reach laptops through the scope diff of
``pull.py``, which compares what each device holds (``device_scope``) with its scope now. A
purged tombstone leaves no row behind, and the diff's ``LEFT JOIN records`` then still answers
``remove ... deleted`` to every device that holds the record, however long it has been away.
Nothing reads tombstones as changes (the change query only reads records in scope, and scopes
never contain deleted records), so purging them is safe for pulls at any device position. What a
tombstone still does is stop an old id coming back as the same record; the retention keeps that
for a while, and preventive checks keep their own memory in ``maintenance_plan``.

Records carry no timestamps, so a tombstone's age is counted from when housekeeping first saw it
(``tombstone_seen``): at most one housekeeping interval late, never early.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from typing import NamedTuple

from . import audit, policy, store


class Swept(NamedTuple):
    answers_deleted: int
    tombstones_seen: int
    tombstones_purged: int


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def clean_applied(conn: sqlite3.Connection, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete stored push answers older than ``retention``; ``devices.high_seq`` stays."""
    cutoff = _iso(now - retention)
    where = "julianday(applied_at) < julianday(?)"
    gone = conn.execute(f"SELECT device_id, seq FROM applied WHERE {where} ORDER BY device_id, seq",
                        (cutoff,)).fetchall()
    if not gone:
        return 0
    conn.execute(f"DELETE FROM applied WHERE {where}", (cutoff,))
    listing = "".join(f"{device}:{seq}\n" for device, seq in gone)
    audit.append(conn, now, audit.SCHEDULER, "housekeeping.clean_applied", "applied", f"before {cutoff}",
                 len(gone), hashlib.sha256(listing.encode()).hexdigest(),
                 ref=f"{len(gone)} stored push answers older than {retention.days} days deleted")
    return len(gone)


def note_tombstones(conn: sqlite3.Connection, now: dt.datetime) -> int:
    """Start the clock on tombstones not seen before; forget ones whose record came back."""
    conn.execute("DELETE FROM tombstone_seen WHERE NOT EXISTS (SELECT 1 FROM records r WHERE "
                 "r.entity=tombstone_seen.entity AND r.id=tombstone_seen.id AND r.deleted=1 "
                 "AND r.version=tombstone_seen.version)")
    cur = conn.execute("INSERT INTO tombstone_seen(entity, id, version, first_seen_at) "
                       "SELECT entity, id, version, ? FROM records WHERE deleted=1 "
                       "ON CONFLICT(entity, id) DO NOTHING", (_iso(now),))
    return cur.rowcount


def purge_tombstones(conn: sqlite3.Connection, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete tombstones first seen more than ``retention`` ago (each purge audited)."""
    due = conn.execute(
        "SELECT t.entity, t.id FROM tombstone_seen t JOIN records r ON r.entity=t.entity AND r.id=t.id "
        "AND r.version=t.version AND r.deleted=1 WHERE julianday(t.first_seen_at) < julianday(?) "
        "ORDER BY r.version", (_iso(now - retention),)).fetchall()
    for entity, record_id in due:
        audit.append_record(conn, now, audit.SCHEDULER, "housekeeping.purge_tombstone", entity, record_id,
                            ref=f"tombstone older than {retention.days} days purged")
        conn.execute("DELETE FROM records WHERE entity=? AND id=? AND deleted=1", (entity, record_id))
        conn.execute("DELETE FROM tombstone_seen WHERE entity=? AND id=?", (entity, record_id))
    if due:
        # A purged tombstone leaves no row for a pull's walk by version to find: devices whose
        # last scope diff is older than this mark diff in full once (see pull.py).
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('purged_at_version', ?)",
                     (str(store.next_version(conn)),))
    return len(due)


def sweep(conn: sqlite3.Connection, now: dt.datetime, config: policy.Config = policy.DEFAULT) -> Swept:
    """One housekeeping pass (the caller holds the write transaction)."""
    cfg = config.housekeeping
    answers = clean_applied(conn, now, dt.timedelta(days=cfg.applied_retention_days))
    seen = note_tombstones(conn, now)
    purged = purge_tombstones(conn, now, dt.timedelta(days=cfg.tombstone_retention_days))
    return Swept(answers, seen, purged)
