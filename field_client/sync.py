"""One sync: upload blobs, push the outbox, pull the scope, fetch drawings.

Each step commits what it learnt in its own local transaction, so a sync killed at any
instant resumes where it stopped: answered mutations have left the outbox together with their
answers, and each pulled page is stored together with the cursor that acknowledges it. What was
not committed is simply asked for again, and the server answers the same.

``hello`` is said only before a push or an upload (or while no limits are known): it tells the
laptop the server's ``high_seq`` and the stamp of the mutation applied there, from which the laptop
learns whether its outbox was overtaken (restored from an older copy: ``outbox.overtaken``, then
renumbered above), and the limits, which are remembered. A push whose outbox continues right
after the last push answer's mark names that mark instead (``after_seq``): the server takes it
only if it stands exactly there, and otherwise answers ``hello_required`` having applied nothing,
and the sync says hello then. A sync with nothing to send is one pull
request, and writes nothing to the laptop
when nothing changed (each commit is an fsync). The protocol version travels in every path
(``/sync/v1/...``), so a server that no longer speaks it refuses the pull as it would the hello.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import msgspec

from sync_protocol import (
    JSON,
    PROTOCOL_VERSION,
    AppendEvent,
    ChecksumMismatch,
    Conflict,
    CursorReset,
    Hello,
    HelloReply,
    HelloRequired,
    Job,
    Limits,
    NotFound,
    Photo,
    PullPage,
    PullRequest,
    PushReply,
    Record,
    ScopeViolation,
    SequenceGap,
    Signature,
    Upsert,
    decode,
)
from sync_protocol.i18n import N_
from sync_protocol.messages import SplicedPullPage, SplicedPushRequest

from . import outbox, replica, restamp
from .blobcache import BlobCache
from .errors import OutOfStep
from .store import LocalStore, get_meta, now_iso, set_meta
from .transport import Transport
from .version import __version__

# Room left in a push body for the envelope around the mutations.
_BODY_MARGIN = 64 * 1024

# A sync that brings nothing refreshes ``last_sync_at`` (shown as "last sync") only when the stored
# time is older than this: so back-to-back syncs with nothing new write nothing at all, and the
# time shown is never more than this much behind the last sync.
LAST_SYNC_REFRESH = dt.timedelta(seconds=60)

# Ask for each next pull page while committing the one before (docs/protocol.md, prefetch).
# ``bench.pull`` turns it off for its same-run baseline; nothing else should.
PREFETCH = True

# Ask for the first pull page in the answer of the push that empties the outbox (docs/protocol.md,
# "A pull in the push answer"). ``bench.incremental`` turns it off for its same-run baseline;
# nothing else should.
PULL_IN_PUSH = True

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
    new_jobs: list[str] = []  # ids of jobs this laptop did not hold before (a new assignment)
    flagged: list[str] = []  # ids of open conflicts it did not hold before: a person decides

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def needs_person(self) -> bool:
        """Something was refused, went wrong, or was flagged for a person to decide."""
        return bool(self.problems or self.flagged)


def sync(
    store: LocalStore,
    blobs: BlobCache,
    transport: Transport,
    page_size: int | None = None,
    progress: Progress = _silent,
) -> SyncReport:
    report = SyncReport()
    mutations, files, limits, mark = store.read(_outlook)
    pulled = False  # the scope came whole with the last push answer
    pull_page = (page_size or 0) if PULL_IN_PUSH else None
    if limits is not None and mark is not None and not files:
        try:  # the laptop knows where the server stands: no hello (docs/protocol.md, push)
            # Files the pending events name go up again if the server collected them meanwhile.
            upload_blobs(store, blobs, transport, report, progress)
            pulled = push_outbox(store, transport, limits, report, progress, mark=mark, pull_page=pull_page)
            mutations = False
        except HelloRequired:
            pass  # nothing was applied: the ordinary way, with hello
    if mutations or files or limits is None:
        hello = say_hello(store, transport)
        limits = hello.limits
        upload_blobs(store, blobs, transport, report, progress)
        pulled = push_outbox(store, transport, hello, report, progress, pull_page=pull_page)
    if not pulled:
        pull_scope(store, transport, limits, report, page_size, progress)
    fetch_drawings(store, blobs, transport, report, progress)
    return report


def _outlook(conn: sqlite3.Connection) -> tuple[bool, bool, Limits | None, tuple[int, str | None] | None]:
    """Whether mutations and whether files wait to go up, the limits of the last hello, and the
    mark of the last push answer when the outbox continues right after it."""
    mutations, files = conn.execute(
        "SELECT EXISTS(SELECT 1 FROM outbox), EXISTS(SELECT 1 FROM blobs WHERE uploaded=0)"
    ).fetchone()
    return bool(mutations), bool(files), known_limits(conn), outbox.push_mark(conn) if mutations else None


def _path(name: str) -> str:
    """Every sync path names the protocol version this client speaks."""
    return f"/sync/v{PROTOCOL_VERSION}/{name}"


_limits_json = msgspec.json.Encoder()
_limits_decoder = msgspec.json.Decoder(Limits)


def known_limits(conn: sqlite3.Connection) -> Limits | None:
    """The limits the server told at the last hello, or None before the first one."""
    text = get_meta(conn, "limits")
    if text is None:
        return None
    try:
        return _limits_decoder.decode(text)
    except msgspec.MsgspecError:
        return None  # unreadable: ask again


def say_hello(store: LocalStore, transport: Transport) -> HelloReply:
    """Check the protocol version (``UpgradeRequired`` otherwise) and where the server stands."""
    hello = transport.call(
        _path("hello"), Hello(protocol_version=PROTOCOL_VERSION, client_version=f"fieldsync {__version__}"), HelloReply
    )

    # The server's clock is adopted with the pull's pages (a later stamp), and the limits are
    # written only when they changed, so an up-to-date laptop writes nothing here: each local
    # commit is an fsync on a laptop.
    # Pending work stamped while this laptop's clock ran ahead of the server's is re-stamped
    # here, before the push, or the server would refuse it (``restamp.py``).
    # Where the server stands is remembered as the mark a later push may name instead of saying
    # hello (a laptop primed by its first pull pushes its first work without one).
    overtaken, known, ahead, marked = store.read(
        lambda c: (
            outbox.overtaken(c, hello.high_seq, hello.high_hlc),
            known_limits(c),
            restamp.needed(c, hello.server_hlc),
            outbox.knows_mark(c, hello.high_seq, hello.high_hlc),
        )
    )
    if overtaken or known != hello.limits or ahead or not marked:

        def remember(conn: sqlite3.Connection) -> None:
            if outbox.overtaken(conn, hello.high_seq, hello.high_hlc):
                outbox.renumber_above(conn, hello.high_seq)
            set_meta(conn, "limits", _limits_json.encode(hello.limits).decode())
            restamp.restamp(conn, hello.server_hlc)
            outbox.remember_mark(conn, hello.high_seq, hello.high_hlc)

        store.write(remember)
    return hello


def _limits_of(hello: HelloReply | Limits | None) -> Limits:
    if isinstance(hello, HelloReply):
        return hello.limits
    return hello if hello is not None else Limits()


def _files_to_send(conn: sqlite3.Connection) -> list[tuple[str, str, bool]]:
    """(sha256, media type, uploaded before) of the files made here not uploaded yet, then of
    those the pending events name that went up earlier: the server collects files nothing names
    after a while (a laptop may have been away for weeks), so it is asked again before the push
    and sent again from this laptop's cache if it no longer holds them."""
    rows = [
        (r[0], r[1] or "application/octet-stream", False)
        for r in conn.execute("SELECT sha256, media_type FROM blobs WHERE uploaded=0 ORDER BY created_at")
    ]
    named: dict[str, None] = {}
    for mutation in outbox.mutations(conn):
        if isinstance(mutation, AppendEvent):
            payload = mutation.event.payload
            sha = (
                payload.sha256
                if isinstance(payload, Photo)
                else payload.image_sha256
                if isinstance(payload, Signature)
                else None
            )
            if sha:
                named[sha] = None
    fresh = {sha for sha, _, _ in rows}
    for sha in named:
        row = conn.execute("SELECT media_type FROM blobs WHERE sha256=? AND uploaded=1", (sha,)).fetchone()
        if sha not in fresh and row is not None:
            rows.append((sha, row[0] or "application/octet-stream", True))
    return rows


def upload_blobs(
    store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport, progress: Progress = _silent
) -> None:
    """Files made here (photos, signatures) go up before the events that name them."""
    rows = store.read(_files_to_send)
    for done, (sha, media_type, before) in enumerate(rows, 1):
        if before and not blobs.has(sha):
            continue
        try:
            sent = blobs.upload(transport, sha, media_type)
        except ChecksumMismatch as exc:  # the laptop's copy no longer matches its name: disk fault
            report.problems.append(f"file {sha[:12]}... refused by the server: {exc.message}")
            continue
        if not before:
            store.write(lambda c, sha=sha: c.execute("UPDATE blobs SET uploaded=1 WHERE sha256=?", (sha,)))
        if sent or not before:
            report.blobs_uploaded += 1
        progress("upload", done, len(rows))


def push_outbox(
    store: LocalStore,
    transport: Transport,
    hello: HelloReply | Limits | None,
    report: SyncReport,
    progress: Progress = _silent,
    mark: tuple[int, str | None] | None = None,
    pull_page: int | None = None,
) -> bool:
    """Push in batches; ``hello`` is this sync's hello, which must come first (its ``high_seq``
    renumbers a restored outbox), or the limits it gave. Without a hello in this sync the first
    batch names ``mark`` (``outbox.push_mark``), and ``HelloRequired`` says to say hello first.

    With ``pull_page`` (a page size; 0: the server's largest), the batch that empties the outbox
    asks for the pull page after it in the same exchange, and its answer commits together with
    the page (docs/protocol.md, "A pull in the push answer"). True when that page completed the
    scope: the sync's pull is done."""
    limits = _limits_of(hello)
    max_bytes = limits.max_body_bytes - _BODY_MARGIN
    total = store.read(outbox.count)
    while True:
        batch, left, cursor = store.read(lambda c: _next_batch(c, limits, max_bytes))
        if not batch:
            return False
        # It keeps the events it appends (``_settle``): the pull that follows sends them not.
        request = SplicedPushRequest(mutations=[msgspec.Raw(body) for _, body in batch], keeps_events=True)
        if mark is not None:
            request.after_seq, request.after_hlc = mark
            mark = None  # the batches after the first continue where its answer left the server
        if pull_page is not None and len(batch) == left and cursor is not None:
            limit = min(pull_page or limits.max_pull_page, limits.max_pull_page)
            request.pull = PullRequest(cursor=cursor, limit=limit)
        try:
            reply, data = _push(transport, request)
        except SequenceGap as gap:
            raise OutOfStep(
                N_(
                    "the server expects seq {expected} but this laptop's outbox starts at {first}: the "
                    "server's store is older than this laptop's; keep this laptop's store and call the operator",
                    expected=gap.detail.get("expected"),
                    first=batch[0][0],
                ),
                field="seq",
            ) from None
        page = store.write(lambda c: _settle_with_page(c, reply, cursor, data, report))
        _count(report, reply)
        progress("push", report.pushed, total)
        if page is not None:
            report.pages += 1
            progress("pull", report.pulled + report.removed, None)
            return not page.more


def _next_batch(
    conn: sqlite3.Connection, limits: Limits, max_bytes: int
) -> tuple[list[tuple[int, bytes]], int, str | None]:
    """The next batch to push, how many mutations are pending in all, and the pull cursor."""
    batch = outbox.pending_bodies(conn, limits.max_push_batch, max_bytes)
    return batch, outbox.count(conn), get_meta(conn, "cursor")


class _PageInPushReply(msgspec.Struct):
    pull: SplicedPullPage | None = None


_page_in_push_reply = msgspec.json.Decoder(_PageInPushReply)


def _push(transport: Transport, request: SplicedPushRequest) -> tuple[PushReply, list[msgspec.Raw] | None]:
    """One push; with a pull, the answer in JSON and each record of its page as sent (as
    ``_pull_page`` reads a page)."""
    if request.pull is None:
        return transport.call(_path("push"), request, PushReply), None
    body, fmt = transport.exchange(_path("push"), request, accept=JSON)
    reply = decode(body, PushReply, fmt)
    spliced = _page_in_push_reply.decode(body).pull if fmt == JSON and reply.pull is not None else None
    if spliced is None:
        return reply, None
    return reply, [getattr(change, "record", msgspec.Raw()) for change in spliced.changes]


def _settle_with_page(
    conn: sqlite3.Connection, reply: PushReply, cursor: str | None, data: list[msgspec.Raw] | None, report: SyncReport
) -> PullPage | None:
    """A push answer, and the page it carries when the laptop still stands at the ``cursor``
    that page follows (settling may have dropped the server records: ``_reset``); returns the
    page applied."""
    _settle(conn, reply)
    page = reply.pull
    if page is None or cursor is None or get_meta(conn, "cursor") != cursor:
        return None
    _apply_page(conn, page, data, report)
    return page


def _settle(conn: sqlite3.Connection, reply: PushReply) -> None:
    kept = outbox.kept_events(conn, reply.results)
    outbox.settle(conn, reply.results)
    replica.put_kept(conn, kept)
    if outbox.unknown_versions(reply.results):
        _reset(conn)
    outbox.remember_mark(conn, reply.high_seq, reply.high_hlc)
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
            report.problems.append(
                f"seq {result.seq} refused ({result.reason}"
                f"{', ' + result.field if result.field else ''}): {result.message}"
            )


def pull_scope(
    store: LocalStore,
    transport: Transport,
    hello: HelloReply | Limits | None,
    report: SyncReport,
    page_size: int | None = None,
    progress: Progress = _silent,
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
    limits = _limits_of(hello)
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
                    page, data = fetched or _pull_page(transport, cursor, limit)
                except CursorReset:
                    if cursor is None or report.reset:
                        raise
                    store.write(_reset)
                    report.reset = True
                    continue
                if page.more and page.changes and PREFETCH:
                    # The next page is computed and sent while this one commits (``_prefetched``).
                    ahead = fetcher.submit(_flushed_pull, store if unflushed else None, transport, page.cursor, limit)
                    unflushed = False
                try:
                    if page.changes or page.cursor != cursor or (not page.more and _stale(last_sync)):
                        store.write(lambda c: _apply_page(c, page, data, report), durable=not page.more)
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
    return _pull_page(transport, cursor, limit, True)


def _pull_page(
    transport: Transport, cursor: str | None, limit: int, prefetch: bool = False
) -> tuple[PullPage, list[msgspec.Raw] | None]:
    """One page, validated whole (a malformed record refuses the page, naming the field), and,
    when the server answered JSON as asked, each change's record JSON exactly as sent."""
    request = PullRequest(cursor=cursor, limit=limit, prefetch=prefetch)
    body, fmt = transport.exchange(_path("pull"), request, accept=JSON)
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


def _reset(conn: sqlite3.Connection) -> None:
    replica.drop_for_reset(conn)
    set_meta(conn, "cursor", None)


def _apply_page(conn: sqlite3.Connection, page: PullPage, data: list[msgspec.Raw] | None, report: SyncReport) -> None:
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
    store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport, progress: Progress = _silent
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
