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

Unfinished uploads (``uploads``, and their partial files) that nobody added a chunk to for
``partial_upload_retention_days`` are deleted; the laptop resumes from offset 0, which it does
anyway when the server holds nothing. Partial files with no row (older servers, a crash) go by
their age on disk.

Complete files (``blobs``) that no record names (no drawing's ``sha256``, no ``photo`` or
``signature`` event) are deleted once untouched for ``unreferenced_blob_grace_days``. A laptop
uploads a file before it pushes the events that name it, and may go offline in between for
weeks; so a file is never collected while it may still be named by a laptop's pending work:

- never while the device that uploaded it has not pushed since (its pending events may name it);
- never within the grace period after it was last touched: uploading it, or asking its status,
  touches it, and a laptop asks the status of every file its pending events name before each
  push (and uploads again what the server no longer holds, from its own cache);
- and a file removed here is removed in the same transaction as its row, under the store's one
  writer, so an upload completing meanwhile finds it gone and is asked to send it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import NamedTuple

from . import policy
from .blobstore import BlobStore
from .storage import Tx, audit, meta
from .storage import blobs as blob_rows
from .storage import records as store
from .storage import scheduler as sweeps


class Swept(NamedTuple):
    answers_deleted: int
    tombstones_seen: int
    tombstones_purged: int
    uploads_expired: int = 0
    blobs_collected: int = 0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def clean_applied(conn: Tx, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete stored push answers older than ``retention``; ``devices.high_seq`` stays."""
    cutoff = _iso(now - retention)
    gone = sweeps.old_answers(conn, cutoff)
    if not gone:
        return 0
    sweeps.delete_old_answers(conn, cutoff)
    listing = "".join(f"{device}:{seq}\n" for device, seq in gone)
    audit.append(
        conn,
        now,
        audit.SCHEDULER,
        "housekeeping.clean_applied",
        "applied",
        f"before {cutoff}",
        len(gone),
        hashlib.sha256(listing.encode()).hexdigest(),
        ref=f"{len(gone)} stored push answers older than {retention.days} days deleted",
    )
    return len(gone)


def note_tombstones(conn: Tx, now: dt.datetime) -> int:
    """Start the clock on tombstones not seen before; forget ones whose record came back."""
    return sweeps.note_tombstones(conn, _iso(now))


def purge_tombstones(conn: Tx, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete tombstones first seen more than ``retention`` ago (each purge audited)."""
    due = sweeps.tombstones_due(conn, _iso(now - retention))
    for entity, record_id in due:
        audit.append_record(
            conn,
            now,
            audit.SCHEDULER,
            "housekeeping.purge_tombstone",
            entity,
            record_id,
            ref=f"tombstone older than {retention.days} days purged",
        )
        sweeps.purge_tombstone(conn, entity, record_id)
    if due:
        # A purged tombstone leaves no row for a pull's walk by version to find: devices whose
        # last scope diff is older than this mark diff in full once (see pull.py).
        meta.set_purged_at_version(conn, store.next_version(conn))
    return len(due)


def expire_uploads(conn: Tx, now: dt.datetime, retention: dt.timedelta, files: BlobStore | None) -> int:
    """Delete unfinished uploads with no chunk for ``retention``, rows and partial files."""
    cutoff = now - retention
    gone = blob_rows.expired_uploads(conn, _iso(cutoff))
    blob_rows.drop_uploads(conn, gone)
    if files is not None:
        held = blob_rows.uploads(conn)
        gone += [
            sha for sha, mtime in files.partials() if sha not in held and sha not in gone and mtime < cutoff.timestamp()
        ]
        for sha in gone:
            files.drop_partial(sha)
    if gone:
        listing = "".join(f"{sha}\n" for sha in sorted(gone))
        audit.append(
            conn,
            now,
            audit.SCHEDULER,
            "housekeeping.expire_uploads",
            "uploads",
            f"before {_iso(cutoff)}",
            len(gone),
            hashlib.sha256(listing.encode()).hexdigest(),
            ref=f"{len(gone)} unfinished uploads idle for {retention.days} days deleted",
        )
    return len(gone)


def collect_blobs(conn: Tx, now: dt.datetime, grace: dt.timedelta, files: BlobStore) -> int:
    """Delete complete files no record names, untouched for ``grace``, whose uploading device has
    pushed since (see the module's docstring for why that never loses a laptop's work)."""
    candidates = blob_rows.collectable(conn, _iso(now - grace))
    if not candidates:
        return 0
    named = blob_rows.named(conn)
    gone = [sha for sha in candidates if sha not in named]
    for sha in gone:
        blob_rows.forget(conn, sha)
        files.delete(sha)
        audit.append(
            conn,
            now,
            audit.SCHEDULER,
            "housekeeping.collect_blob",
            "blob",
            sha,
            0,
            sha,
            ref=f"named by no record and untouched for {grace.days} days",
        )
    return len(gone)


def sweep(conn: Tx, now: dt.datetime, config: policy.Config = policy.DEFAULT, files: BlobStore | None = None) -> Swept:
    """One housekeeping pass (the caller holds the write transaction); with ``files``, the
    unfinished uploads and unnamed files on disk too."""
    cfg = config.housekeeping
    answers = clean_applied(conn, now, dt.timedelta(days=cfg.applied_retention_days))
    seen = note_tombstones(conn, now)
    purged = purge_tombstones(conn, now, dt.timedelta(days=cfg.tombstone_retention_days))
    expired = expire_uploads(conn, now, dt.timedelta(days=cfg.partial_upload_retention_days), files)
    collected = (
        0 if files is None else collect_blobs(conn, now, dt.timedelta(days=cfg.unreferenced_blob_grace_days), files)
    )
    return Swept(answers, seen, purged, expired, collected)
