"""One sync: hello, upload blobs, push the outbox, pull the scope, fetch drawings.

Each step commits what it learnt in its own local transaction, so a sync killed at any
instant resumes where it stopped: answered mutations have left the outbox together with their
answers, and each pulled page is stored together with the cursor that acknowledges it. What was
not committed is simply asked for again, and the server answers the same.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

import msgspec

from sync_protocol import (
    PROTOCOL_VERSION, ChecksumMismatch, CursorReset, Hello, HelloReply, NotFound, PullPage,
    PullRequest, PushReply, PushRequest, Remove, ScopeViolation, SequenceGap, Upsert,
)

from . import __version__, outbox, replica
from .blobcache import BlobCache
from .errors import OutOfStep
from .store import LocalStore, get_meta, now_iso, set_meta
from .transport import Transport

# Room left in a push body for the envelope around the mutations.
_BODY_MARGIN = 64 * 1024

# ``progress(stage, done, total)``: stage is "upload", "push", "pull" or "drawings"; total may be None.
Progress = Callable[[str, int, "int | None"], None]


def _silent(stage: str, done: int, total: int | None) -> None:
    pass


class SyncReport(msgspec.Struct, kw_only=True):
    """What one sync did, for the engineer and for scripts (``field sync --json``)."""

    pushed: int = 0
    applied: int = 0
    merged: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0
    removed: int = 0
    kept: int = 0
    pages: int = 0
    reset: bool = False
    blobs_uploaded: int = 0
    blobs_downloaded: int = 0
    problems: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.problems


def sync(store: LocalStore, blobs: BlobCache, transport: Transport, page_size: int | None = None,
         progress: Progress = _silent) -> SyncReport:
    report = SyncReport()
    hello = say_hello(store, transport)
    upload_blobs(store, blobs, transport, report, progress)
    push_outbox(store, transport, hello, report, progress)
    pull_scope(store, transport, hello, report, page_size, progress)
    fetch_drawings(store, blobs, transport, report, progress)
    return report


def say_hello(store: LocalStore, transport: Transport) -> HelloReply:
    """Check the protocol version (``UpgradeRequired`` otherwise) and where the server stands."""
    hello = transport.call("/sync/v1/hello", Hello(protocol_version=PROTOCOL_VERSION,
                                                   client_version=f"fieldsync {__version__}"), HelloReply)

    # The server's clock is adopted with the pull's pages (a later stamp), so an up-to-date
    # laptop writes nothing here: each local commit is an fsync on a laptop.
    next_seq = int(store.read(lambda c: get_meta(c, "next_seq", "1")) or 1)
    if hello.high_seq >= next_seq:
        store.write(lambda c: outbox.renumber_above(c, hello.high_seq))
    return hello


def upload_blobs(store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport,
                 progress: Progress = _silent) -> None:
    """Files made here (photos, signatures) go up before the events that name them."""
    rows = store.read(lambda c: c.execute(
        "SELECT sha256, media_type FROM blobs WHERE uploaded=0 ORDER BY created_at").fetchall())
    for row in rows:
        try:
            blobs.upload(transport, row["sha256"], row["media_type"] or "application/octet-stream")
        except ChecksumMismatch as exc:  # the laptop's copy no longer matches its name: disk fault
            report.problems.append(f"file {row['sha256'][:12]}... refused by the server: {exc.message}")
            continue
        store.write(lambda c, sha=row["sha256"]: c.execute(
            "UPDATE blobs SET uploaded=1 WHERE sha256=?", (sha,)))
        report.blobs_uploaded += 1
        progress("upload", report.blobs_uploaded, len(rows))


def push_outbox(store: LocalStore, transport: Transport, hello: HelloReply, report: SyncReport,
                progress: Progress = _silent) -> None:
    max_bytes = hello.limits.max_body_bytes - _BODY_MARGIN
    total = store.read(outbox.count)
    while True:
        batch = store.read(lambda c: outbox.pending(c, hello.limits.max_push_batch, max_bytes))
        if not batch:
            break
        try:
            reply = transport.call("/sync/v1/push", PushRequest(mutations=[p.mutation for p in batch]),
                                   PushReply)
        except SequenceGap as gap:
            raise OutOfStep(f"the server expects seq {gap.detail.get('expected')} but this laptop's "
                            f"outbox starts at {batch[0].seq}: the server's store is older than this "
                            f"laptop's; keep this laptop's store and call the operator",
                            field="seq") from None
        store.write(lambda c: _settle(c, reply))
        _count(report, reply)
        progress("push", report.pushed, total)


def _settle(conn: sqlite3.Connection, reply: PushReply) -> None:
    outbox.settle(conn, reply.results)
    outbox.observe(conn, reply.server_hlc)
    replica.release_kept(conn)


def _count(report: SyncReport, reply: PushReply) -> None:
    report.pushed += len(reply.results)
    for result in reply.results:
        if result.status == "applied":
            report.applied += 1
        elif result.status == "merged":
            report.merged += 1
        elif result.status == "conflict":
            report.conflicts += 1
        else:
            report.rejected += 1
            report.problems.append(f"seq {result.seq} refused ({result.reason}"
                                   f"{', ' + result.field if result.field else ''}): {result.message}")


def pull_scope(store: LocalStore, transport: Transport, hello: HelloReply, report: SyncReport,
               page_size: int | None = None, progress: Progress = _silent) -> None:
    limit = min(page_size or hello.limits.max_pull_page, hello.limits.max_pull_page)
    while True:
        cursor = store.read(lambda c: get_meta(c, "cursor"))
        try:
            page = transport.call("/sync/v1/pull", PullRequest(cursor=cursor, limit=limit), PullPage)
        except CursorReset:
            if cursor is None or report.reset:
                raise
            store.write(_reset)
            report.reset = True
            continue
        store.write(lambda c: _apply_page(c, page, report))
        report.pages += 1
        progress("pull", report.pulled + report.removed, None)
        if not page.more:
            return


def _reset(conn: sqlite3.Connection) -> None:
    replica.drop_for_reset(conn)
    set_meta(conn, "cursor", None)


def _apply_page(conn: sqlite3.Connection, page: PullPage, report: SyncReport) -> None:
    """A page and the cursor acknowledging it, in one transaction."""
    needed: set[tuple[str, str]] | None = None
    for change in page.changes:
        if isinstance(change, Upsert):
            replica.put(conn, change.record, change.version)
            report.pulled += 1
        elif isinstance(change, Remove):
            if needed is None:
                needed = replica.needed_by_outbox(conn)
            if replica.remove(conn, change.entity, change.id, needed):
                report.removed += 1
            else:
                report.kept += 1
    set_meta(conn, "cursor", page.cursor)
    outbox.observe(conn, page.server_hlc)
    if not page.more:
        set_meta(conn, "last_sync_at", now_iso())  # the scope is complete as of now


def fetch_drawings(store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport,
                   progress: Progress = _silent) -> None:
    """Every drawing of the engineer's sites, on the laptop before they leave coverage."""
    drawings = store.read(lambda c: [h.record for h in replica.all_of(c, "drawing")])
    for done, drawing in enumerate(drawings, 1):
        progress("drawings", done, len(drawings))
        if blobs.has(drawing.sha256):  # type: ignore[attr-defined]
            continue
        try:
            blobs.download(transport, drawing.sha256, drawing.size)  # type: ignore[attr-defined]
        except (ChecksumMismatch, ScopeViolation, NotFound) as exc:
            report.problems.append(f"drawing {drawing.id} ({drawing.filename}): {exc.message}")  # type: ignore[attr-defined]
            continue
        store.write(lambda c, d=drawing: c.execute(
            "INSERT OR IGNORE INTO blobs(sha256, size, media_type, origin, uploaded, created_at) "
            "VALUES (?,?,?,?,1,?)", (d.sha256, d.size, d.media_type, "server", now_iso())))
        report.blobs_downloaded += 1
