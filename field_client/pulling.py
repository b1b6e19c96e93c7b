"""The pull of a sync: the scope's pages, each committed with the cursor that acknowledges it
(the next one asked for while it commits), and the site drawings they name.

A page the push answer carries is applied here too (``apply_page``): a sync of an engineer's
work is then one request (docs/protocol.md, "A pull in the push answer").
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor

import msgspec

from sync_protocol import (
    JSON,
    ChecksumMismatch,
    Conflict,
    CursorReset,
    HelloReply,
    Job,
    Limits,
    NotFound,
    PullPage,
    PullRequest,
    Record,
    ScopeViolation,
    Upsert,
    decode,
    sync_path,
)
from sync_protocol.messages import SplicedPullPage

from . import outbox, replica
from .blobcache import BlobCache
from .limits import limits_of
from .report import Progress, SyncReport, silent
from .store import LocalStore, get_meta, now_iso, set_meta
from .transport import Transport

# A sync that brings nothing refreshes ``last_sync_at`` (shown as "last sync") only when the stored
# time is older than this: so back-to-back syncs with nothing new write nothing at all, and the
# time shown is never more than this much behind the last sync.
LAST_SYNC_REFRESH = dt.timedelta(seconds=60)

# Ask for each next pull page while committing the one before (docs/protocol.md, prefetch).
# ``bench.pull`` turns it off for its same-run baseline; nothing else should.
PREFETCH = True


def pull_scope(
    store: LocalStore,
    transport: Transport,
    hello: HelloReply | Limits | None,
    report: SyncReport,
    page_size: int | None = None,
    progress: Progress = silent,
) -> None:
    """Pull until ``more`` is false; ``hello`` is this sync's hello or the limits it gave (None:
    the protocol's defaults).

    A page that more pages follow commits without waiting for the disk (``LocalStore.write``,
    ``durable=False``); the last page commits durably, and with it every page before. A power
    cut may so undo the last pages committed, whole, and the laptop comes back at an older
    cursor; the server must still take that cursor, or the laptop pulls everything again. The
    server takes back the cursor it was sent last (plain), or the one before it (prefetch: it
    remembers the prior cursor). So before each request the page committed last is made
    durable (``LocalStore.flush``): for a prefetch, in the fetcher thread before it sends,
    while this thread commits the page the prefetch names; that page is the one the server
    may have to go back from."""
    limits = limits_of(hello)
    limit = min(page_size or limits.max_pull_page, limits.max_pull_page)
    ahead: Future[_Fetched] | None = None
    unflushed = False  # a page was committed without waiting for the disk and not flushed since
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as fetcher:
        try:
            while True:
                cursor, last_sync = store.read(lambda c: (get_meta(c, "cursor"), get_meta(c, "last_sync_at")))
                try:
                    fetched = _prefetched(ahead, cursor) if ahead is not None else None
                    ahead = None
                    if fetched is None and unflushed:
                        store.flush()  # the server is sent ``cursor``: it must survive a power cut
                        unflushed = False
                    page, data = fetched or pull_page(transport, cursor, limit)
                except CursorReset:
                    if cursor is None or report.reset:
                        raise
                    store.write(reset)
                    report.reset = True
                    continue
                if page.more and page.changes and PREFETCH:
                    # The next page is computed and sent while this one commits (``_prefetched``).
                    ahead = fetcher.submit(_flushed_pull, store if unflushed else None, transport, page.cursor, limit)
                    unflushed = False
                try:
                    if page.changes or page.cursor != cursor or (not page.more and _stale(last_sync)):
                        store.write(lambda c: apply_page(c, page, data, report), durable=not page.more)
                        unflushed = page.more
                except BaseException:
                    if ahead is not None:
                        ahead.cancel()
                    raise
                report.pages += 1
                progress("pull", report.pulled + report.removed, None)
                if not page.more:
                    return
        finally:
            if unflushed:  # a pull cut short by an error: keep what it brought
                store.flush()


_Fetched = tuple[PullPage, list[msgspec.Raw] | None]


def _prefetched(ahead: Future[_Fetched], cursor: str | None) -> _Fetched | None:
    """The page prefetched after the one just committed (whose cursor is ``cursor``), or None when
    the server declined (no changes, ``more``, the cursor it was given): ask again plainly then."""
    page, data = ahead.result()
    if not page.changes and page.more and page.cursor == cursor:
        return None
    return page, data


_spliced_page = msgspec.json.Decoder(SplicedPullPage)


def _flushed_pull(
    store: LocalStore | None, transport: Transport, cursor: str, limit: int
) -> tuple[PullPage, list[msgspec.Raw] | None]:
    """A prefetch of the page after ``cursor``, once the page committed before it is durable
    (``store``: it is not yet): the server then takes ``cursor`` as acknowledged and keeps only
    the cursor before it to go back to."""
    if store is not None:
        store.flush()
    return pull_page(transport, cursor, limit, True)


def pull_page(
    transport: Transport, cursor: str | None, limit: int, prefetch: bool = False
) -> tuple[PullPage, list[msgspec.Raw] | None]:
    """One page, validated whole (a malformed record refuses the page, naming the field), and,
    when the server answered JSON as asked, each change's record JSON exactly as sent."""
    request = PullRequest(cursor=cursor, limit=limit, prefetch=prefetch)
    body, fmt = transport.exchange(sync_path("pull"), request, accept=JSON)
    page = decode(body, PullPage, fmt)
    if fmt != JSON:
        return page, None  # a server answering MessagePack anyway: records are re-encoded
    return page, [getattr(change, "record", msgspec.Raw()) for change in _spliced_page.decode(body).changes]


def _stale(last_sync: str | None) -> bool:
    if last_sync is None:
        return True
    try:
        then = dt.datetime.fromisoformat(last_sync)
    except ValueError:
        return True
    return abs(dt.datetime.now(dt.timezone.utc) - then) >= LAST_SYNC_REFRESH


def reset(conn: sqlite3.Connection) -> None:
    replica.drop_for_reset(conn)
    set_meta(conn, "cursor", None)


def apply_page(conn: sqlite3.Connection, page: PullPage, data: list[msgspec.Raw] | None, report: SyncReport) -> None:
    """A page and the cursor acknowledging it, in one transaction: a run of upserts is one
    statement, a run of removes two, applied in the page's order."""
    needed: set[tuple[str, str]] | None = None
    changes = enumerate(page.changes)
    for is_upsert, run in itertools.groupby(changes, key=lambda ic: type(ic[1]) is Upsert):
        if is_upsert:
            upserts = [(i, change) for i, change in run if isinstance(change, Upsert)]
            _note_news(conn, [change.record for _, change in upserts], report)
            rows = [
                replica.as_row(change.record, change.version, None if data is None else data[i])
                for i, change in upserts
            ]
            replica.put_many(conn, rows)
            report.pulled += len(rows)
        else:
            if needed is None:
                needed = replica.needed_by_outbox(conn)
            keys = [(change.entity, change.id) for _, change in run]  # type: ignore[union-attr]
            removed, kept = replica.remove_many(conn, keys, needed)
            report.removed += removed
            report.kept += kept
    set_meta(conn, "cursor", page.cursor)
    outbox.observe(conn, page.server_hlc)
    if not page.more:
        set_meta(conn, "last_sync_at", now_iso())  # the scope is complete as of now


def _note_news(conn: sqlite3.Connection, records: list[Record], report: SyncReport) -> None:
    """Jobs and open conflicts this laptop does not hold yet, before the page stores them: what
    the engineer is told after the sync (``new_jobs``, ``flagged``)."""
    for entity, news, fresh in (
        ("job", report.new_jobs, [r.id for r in records if isinstance(r, Job)]),
        ("conflict", report.flagged, [r.id for r in records if isinstance(r, Conflict) and r.status == "open"]),
    ):
        if fresh:
            held = replica.held_ids(conn, entity, fresh)
            news += [i for i in dict.fromkeys(fresh) if i not in held and i not in news]


class _Sha256(msgspec.Struct):
    sha256: str


_sha256_of = msgspec.json.Decoder(_Sha256).decode


def fetch_drawings(
    store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport, progress: Progress = silent
) -> None:
    """Every drawing of the engineer's sites, on the laptop before they leave coverage."""
    drawings = store.read(lambda c: c.execute("SELECT data FROM records WHERE entity='drawing' ORDER BY id").fetchall())
    for done, (data,) in enumerate(drawings, 1):
        progress("drawings", done, len(drawings))
        if blobs.has(_sha256_of(data).sha256):  # only a drawing still to fetch is decoded whole
            continue
        drawing = replica.decode(data)
        try:
            blobs.download(transport, drawing.sha256, drawing.size)  # type: ignore[union-attr]
        except (ChecksumMismatch, ScopeViolation, NotFound) as exc:
            report.problems.append(f"drawing {drawing.id} ({drawing.filename}): {exc.message}")  # type: ignore[union-attr]
            continue
        store.write(
            lambda c, d=drawing: c.execute(
                "INSERT OR IGNORE INTO blobs(sha256, size, media_type, origin, uploaded, created_at) "
                "VALUES (?,?,?,?,1,?)",
                (d.sha256, d.size, d.media_type, "server", now_iso()),
            )
        )
        report.blobs_downloaded += 1
