"""One sync: upload blobs, push the outbox, pull the scope (``pulling``), fetch drawings.

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

import sqlite3

import msgspec

from sync_protocol import (
    JSON,
    PROTOCOL_VERSION,
    AppendEvent,
    ChecksumMismatch,
    Hello,
    HelloReply,
    HelloRequired,
    Limits,
    Photo,
    PullPage,
    PullRequest,
    PushReply,
    SequenceGap,
    Signature,
    decode,
    sync_path,
)
from sync_protocol.i18n import N_
from sync_protocol.messages import SplicedPullPage, SplicedPushRequest

from . import outbox, replica, restamp
from .blobcache import BlobCache
from .errors import OutOfStep
from .limits import known_limits, limits_of, remember_limits
from .pulling import apply_page, fetch_drawings, pull_scope, reset
from .report import Progress, SyncReport, silent
from .store import LocalStore, get_meta
from .transport import Transport
from .version import __version__

# Room left in a push body for the envelope around the mutations.
_BODY_MARGIN = 64 * 1024

# Ask for the first pull page in the answer of the push that empties the outbox (docs/protocol.md,
# "A pull in the push answer"). ``bench.incremental`` turns it off for its same-run baseline;
# nothing else should.
PULL_IN_PUSH = True


def sync(
    store: LocalStore,
    blobs: BlobCache,
    transport: Transport,
    page_size: int | None = None,
    progress: Progress = silent,
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


def say_hello(store: LocalStore, transport: Transport) -> HelloReply:
    """Check the protocol version (``UpgradeRequired`` otherwise) and where the server stands."""
    hello = transport.call(
        sync_path("hello"),
        Hello(protocol_version=PROTOCOL_VERSION, client_version=f"fieldsync {__version__}"),
        HelloReply,
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
            remember_limits(conn, hello.limits)
            restamp.restamp(conn, hello.server_hlc)
            outbox.remember_mark(conn, hello.high_seq, hello.high_hlc)

        store.write(remember)
    return hello


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
    store: LocalStore, blobs: BlobCache, transport: Transport, report: SyncReport, progress: Progress = silent
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
    progress: Progress = silent,
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
    limits = limits_of(hello)
    max_bytes = limits.max_body_bytes - _BODY_MARGIN
    total = store.read(outbox.count)
    while True:
        batch, left, cursor = store.read(lambda c: _next_batch(c, limits, max_bytes))
        if not batch:
            return False
        # It keeps the events it appends (``settle_reply``): the pull that follows sends them not.
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
    ``pulling.pull_page`` reads a page)."""
    if request.pull is None:
        return transport.call(sync_path("push"), request, PushReply), None
    body, fmt = transport.exchange(sync_path("push"), request, accept=JSON)
    reply = decode(body, PushReply, fmt)
    spliced = _page_in_push_reply.decode(body).pull if fmt == JSON and reply.pull is not None else None
    if spliced is None:
        return reply, None
    return reply, [getattr(change, "record", msgspec.Raw()) for change in spliced.changes]


def _settle_with_page(
    conn: sqlite3.Connection, reply: PushReply, cursor: str | None, data: list[msgspec.Raw] | None, report: SyncReport
) -> PullPage | None:
    """A push answer, and the page it carries when the laptop still stands at the ``cursor``
    that page follows (settling may have dropped the server records: ``pulling.reset``); returns the
    page applied."""
    settle_reply(conn, reply)
    page = reply.pull
    if page is None or cursor is None or get_meta(conn, "cursor") != cursor:
        return None
    apply_page(conn, page, data, report)
    return page


def settle_reply(conn: sqlite3.Connection, reply: PushReply) -> None:
    """A push answer into the store: answered mutations leave the outbox with their answers,
    the events it keeps join the replica, the answer's mark and clock are remembered; an answer
    whose versions are lost (``already_applied``) drops the server records for a full pull."""
    kept = outbox.kept_events(conn, reply.results)
    outbox.settle(conn, reply.results)
    replica.put_kept(conn, kept)
    if outbox.unknown_versions(reply.results):
        reset(conn)
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
