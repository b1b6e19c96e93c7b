"""The order of a sync's requests and what it commits locally, against a scripted server.

A sync with nothing to send is one pull request and, when nothing changed, no local commit at
all; ``hello`` comes first only when there is something to push or upload, or no limits are
known yet. A pulled page is applied in bulk with the same result as record by record, and a
malformed page changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import msgspec
import pytest

from field_client import FieldClient, outbox, replica
from field_client import pulling
from field_client.limits import known_limits
from field_client import sync as sync_steps
from field_client.report import SyncReport
from field_client.store import get_meta, now_iso, set_meta
from field_client.transport import Transport
from sync_protocol import (
    JSON,
    MSGPACK,
    BlobStatus,
    Checkin,
    ErrorBody,
    HelloReply,
    Limits,
    MalformedMessage,
    MutationResult,
    Note,
    PullPage,
    PullRequest,
    PushReply,
    PushRequest,
    Remove,
    UpgradeRequired,
    Upsert,
    decode,
    encode,
)
from sync_protocol.messages import SplicedPushRequest
from sync_protocol.records import Equipment, Job, Stock

from .laptop_helpers import DEVICE_ID, USER_ID, demo_records, outbox_rows

JOB = "J-0001"  # S-01 / C-01: pending work in these tests needs it
IDLE_JOB = "J-0003"  # S-02
CURSOR = "7-0123456789abcdef"
SERVER_HLC = "0193f1c2a4b20000"
HELLO = HelloReply(
    protocol_version=1,
    server_version="test",
    schema_version=1,
    device_id="dev-test-laptop",
    user_id="u-li-wei",
    user_name="Li Wei",
    role="engineer",
    high_seq=0,
    server_hlc=SERVER_HLC,
    limits=Limits(max_pull_page=300),
)


def answer(message: Any, fmt: str = MSGPACK, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=encode(message, fmt), headers={"Content-Type": fmt})  # type: ignore[arg-type]


def empty_page(cursor: str = CURSOR) -> PullPage:
    return PullPage(changes=[], cursor=cursor, more=False, server_hlc=SERVER_HLC)


class FakeServer:
    """Answers hello, push (everything applied) and pull (``pages``, then empty pages) the way the
    server does: pages in the format the request's ``Accept`` asks for."""

    def __init__(
        self,
        *pages: PullPage | httpx.Response,
        hello: HelloReply = HELLO,
        reason: str | None = None,
        pulls_in_push: bool = False,
    ) -> None:
        self.pages = list(pages)
        self.hello = hello
        self.reason = reason  # every mutation answered applied with this reason (and no version)
        # Answer a push's ``pull`` with the next page, as our server does; without, as a server
        # that does not know the field (it ignores it): the laptop pulls after the push.
        self.pulls_in_push = pulls_in_push
        self.requests: list[httpx.Request] = []
        self.pushed: list[PushRequest] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/sync/v1/hello":
            return answer(self.hello)
        if path.startswith("/sync/v1/blobs/") and path.endswith("/status"):
            return answer(BlobStatus(sha256=path.split("/")[4], complete=True))  # held already
        if path == "/sync/v1/push":
            push = decode(request.content, PushRequest)
            self.pushed.append(push)
            page = self._page(push.pull.cursor) if push.pull is not None and self.pulls_in_push else None
            if isinstance(page, httpx.Response):
                return page
            return answer(
                PushReply(
                    results=[
                        MutationResult(seq=m.seq, status="applied", reason=self.reason)
                        if self.reason
                        else MutationResult(seq=m.seq, status="applied", version=100 + m.seq)
                        for m in push.mutations
                    ],
                    high_seq=push.mutations[-1].seq,
                    server_hlc=SERVER_HLC,
                    pull=page,
                ),
                JSON if request.headers.get("accept") == JSON else MSGPACK,
            )
        assert path == "/sync/v1/pull", path
        page = self._page(decode(request.content, PullRequest).cursor)
        if isinstance(page, httpx.Response):
            return page
        fmt = JSON if request.headers.get("accept") == JSON else MSGPACK
        return answer(page, fmt)

    def _page(self, cursor: str | None) -> PullPage | httpx.Response:
        return self.pages.pop(0) if self.pages else empty_page(cursor or CURSOR)

    @property
    def paths(self) -> list[str]:
        return [r.url.path.rsplit("/", 1)[1] for r in self.requests]


@pytest.fixture
def synced(laptop: FieldClient) -> FieldClient:
    """The seeded laptop as after an earlier sync: cursor, limits, the sync time, its drawings."""

    def work(conn: sqlite3.Connection) -> None:
        set_meta(conn, "cursor", CURSOR)
        set_meta(conn, "limits", json.dumps({"max_pull_page": 300}))
        set_meta(conn, "last_sync_at", now_iso())

    laptop.store.write(work)
    for drawing in laptop.records("drawing"):
        path = laptop.blobs.path(drawing.sha256)  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"held")  # only its presence counts for a sync
    return laptop


@pytest.fixture
def reopen(tmp_path: Path) -> Iterator[Callable[[FieldClient, FakeServer], FieldClient]]:
    """Reopen a seeded laptop's home with the fake server as its HTTP transport."""
    opened: list[FieldClient] = []

    def make(laptop: FieldClient, server: FakeServer) -> FieldClient:
        laptop.close()
        client = FieldClient(laptop.home, http=httpx.MockTransport(server), retries=0, backoff=0.0)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


class Commits:
    """Counts the laptop's write transactions and the rows they changed."""

    def __init__(self, client: FieldClient) -> None:
        self.client, self.count = client, 0
        self._write = client.store.write
        self.changes_before = client.store._conn.total_changes
        client.store.write = self._counted  # type: ignore[method-assign]

    def _counted(self, fn: Callable[[sqlite3.Connection], Any], durable: bool = True) -> Any:
        self.count += 1
        return self._write(fn, durable=durable)

    @property
    def rows_changed(self) -> int:
        return self.client.store._conn.total_changes - self.changes_before


def snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    """Everything a pull may touch: the records (decoded), the outbox and the meta table."""
    return {
        "records": {
            (r["entity"], r["id"]): (r["version"], r["parent"], r["kept"], replica.decode(r["data"]))
            for r in conn.execute("SELECT * FROM records")
        },
        "outbox": [tuple(r) for r in conn.execute("SELECT * FROM outbox ORDER BY seq")],
        "meta": {r[0]: r[1] for r in conn.execute("SELECT key, value FROM meta")},
    }


def store_snapshot(client: FieldClient) -> dict[str, Any]:
    return client.store.read(snapshot)


# --- the order of calls -------------------------------------------------------------------------


def test_a_no_op_sync_is_one_pull_and_no_local_commit(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    server = FakeServer()
    client = reopen(synced, server)
    before = store_snapshot(client)
    commits = Commits(client)

    report = client.sync()

    assert server.paths == ["pull"]
    assert decode(server.requests[0].content, PullRequest) == PullRequest(cursor=CURSOR, limit=300)
    assert server.requests[0].headers["accept"] == JSON  # records are stored as the JSON received
    assert (commits.count, commits.rows_changed) == (0, 0)
    assert store_snapshot(client) == before
    assert report.ok and (report.pulled, report.pushed, report.pages) == (0, 0, 1)


def test_back_to_back_syncs_keep_one_connection_stack(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    client = reopen(synced, FakeServer())
    client.sync()
    first = client._sync_transport()
    client.sync()
    assert client._sync_transport() is first
    client.store.write(lambda c: set_meta(c, "device_token", "fs_d_another"))  # a new login
    assert client._sync_transport() is not first
    assert first._client.is_closed


def test_a_stale_sync_time_is_refreshed_in_one_commit(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    old = (dt.datetime.now(dt.timezone.utc) - pulling.LAST_SYNC_REFRESH * 2).isoformat(timespec="seconds")
    synced.store.write(lambda c: set_meta(c, "last_sync_at", old))
    client = reopen(synced, FakeServer())
    commits = Commits(client)

    client.sync()

    assert commits.count == 1
    meta = store_snapshot(client)["meta"]
    assert meta["last_sync_at"] > old and meta["cursor"] == CURSOR
    client.sync()  # fresh now: nothing more to write
    assert commits.count == 1


def test_an_empty_page_with_a_new_cursor_is_committed(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    client = reopen(synced, FakeServer(empty_page("8-fedcba9876543210")))
    commits = Commits(client)
    client.sync()
    assert commits.count == 1
    assert client.store.read(lambda c: get_meta(c, "cursor")) == "8-fedcba9876543210"


def stock_page(cursor: str = "9-0000000000000009", more: bool = False) -> PullPage:
    return PullPage(
        changes=[Upsert(version=40, record=Stock(id="van:u-li-wei|X", location="van:u-li-wei", sku="X", qty=1))],
        cursor=cursor,
        more=more,
        server_hlc=SERVER_HLC,
    )


def test_pending_work_is_one_push_whose_answer_carries_the_page_committed_with_it(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    synced.record_event(JOB, Checkin(note="in"))
    server = FakeServer(stock_page(), pulls_in_push=True)
    client = reopen(synced, server)
    commits = Commits(client)

    report = client.sync()

    assert server.paths == ["hello", "push"]
    assert server.pushed[0].pull == PullRequest(cursor=CURSOR, limit=300)
    assert server.requests[1].headers["accept"] == JSON  # the page's records are stored as received
    assert commits.count == 2  # the mark hello told, then the answers with the page
    assert client.record("stock", "van:u-li-wei|X").qty == 1  # type: ignore[attr-defined]
    assert client.store.read(lambda c: get_meta(c, "cursor")) == "9-0000000000000009"
    assert (report.applied, report.pages, report.pulled) == (1, 1, 1) and outbox_rows(client) == []


def test_a_push_answer_whose_page_has_more_is_followed_by_a_pull_from_its_cursor(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    synced.record_event(JOB, Checkin(note="in"))
    server = FakeServer(stock_page(more=True), empty_page("10-0000000000000010"), pulls_in_push=True)
    client = reopen(synced, server)

    report = client.sync()

    assert server.paths == ["hello", "push", "pull"]
    assert decode(server.requests[2].content, PullRequest) == PullRequest(cursor="9-0000000000000009", limit=300)
    assert client.store.read(lambda c: get_meta(c, "cursor")) == "10-0000000000000010"
    assert report.pages == 2


def test_only_the_batch_that_empties_the_outbox_asks_for_the_page(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        synced.record_event(JOB, Note(text=f"note {i}"))
    hello = msgspec.structs.replace(HELLO, limits=Limits(max_push_batch=2, max_pull_page=300))
    server = FakeServer(hello=hello, pulls_in_push=True)
    client = reopen(synced, server)

    client.sync()

    assert server.paths == ["hello", "push", "push", "push"]
    assert [p.pull for p in server.pushed] == [None, None, PullRequest(cursor=CURSOR, limit=300)]


def test_a_page_in_an_answer_that_resets_the_laptop_is_not_applied(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    """The answer says ``already_applied``, so the laptop drops the server's records and pulls
    from the start: the page the answer carries follows a cursor it no longer stands at."""
    synced.record_event(JOB, Note(text="answered long ago"))
    server = FakeServer(stock_page(), pulls_in_push=True, reason="already_applied")
    client = reopen(synced, server)

    client.sync()

    assert server.paths == ["hello", "push", "pull"]
    assert decode(server.requests[2].content, PullRequest).cursor is None
    assert client.store.read(lambda c: replica.get(c, "stock", "van:u-li-wei|X")) is None


def test_pending_work_says_hello_then_pushes_then_pulls_from_a_server_without_pages_in_push_answers(
    synced: FieldClient, reopen
) -> None:  # type: ignore[no-untyped-def]
    synced.record_event(JOB, Checkin(note="in"))
    synced.record_event(JOB, Note(text="done"))
    server = FakeServer()
    client = reopen(synced, server)

    report = client.sync()

    assert server.paths == ["hello", "push", "pull"]
    assert [m.seq for m in server.pushed[0].mutations] == [1, 2]
    assert report.applied == 2 and outbox_rows(client) == []
    assert [a["status"] for a in client.answers()] == ["applied", "applied"]
    server.requests.clear()
    client.sync()
    assert server.paths == ["pull"]  # nothing left to send: no hello


def test_a_file_waiting_for_upload_says_hello_first(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    synced.add_blob(b"a photo", "image/jpeg")
    server = FakeServer()
    client = reopen(synced, server)

    report = client.sync()

    assert report.blobs_uploaded == 1
    assert server.paths == ["hello", "status", "pull"]


def test_without_known_limits_the_first_sync_says_hello_and_remembers_them(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    synced.store.write(lambda c: set_meta(c, "limits", None))
    server = FakeServer()
    client = reopen(synced, server)

    client.sync()
    assert server.paths == ["hello", "pull"]
    assert client.store.read(known_limits) == HELLO.limits

    server.requests.clear()
    client.sync()
    assert server.paths == ["pull"]
    assert decode(server.requests[0].content, PullRequest).limit == 300  # the remembered limit


def test_a_hello_that_tells_nothing_new_writes_nothing(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    """The first hello tells this laptop where the server stands (its push mark); the next one,
    with the same limits and mark, writes nothing (each local commit is an fsync)."""
    client = reopen(synced, FakeServer())
    transport = client.transport()
    assert sync_steps.say_hello(client.store, transport) == HELLO
    commits = Commits(client)
    assert sync_steps.say_hello(client.store, transport) == HELLO
    transport.close()
    assert commits.count == 0


def test_a_laptop_primed_by_its_first_pull_pushes_its_first_work_without_hello(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    """The first sync says hello (no limits are known yet), and hello says the server has applied
    nothing of this device (``high_seq`` 0, no ``high_hlc``): the first push names that mark
    instead of saying hello again."""
    synced.store.write(lambda c: set_meta(c, "limits", None))
    server = FakeServer()
    client = reopen(synced, server)
    client.sync()
    assert server.paths[0] == "hello"
    client.record_event(JOB, Note(text="first work"))
    server.requests.clear()

    client.sync()

    assert server.paths == ["push", "pull"]
    assert (server.pushed[-1].after_seq, server.pushed[-1].after_hlc) == (0, None)


def test_login_forgets_the_limits_of_the_previous_server(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    from sync_protocol import EnrollReply

    reply = EnrollReply(
        device_id="dev-2", device_token="fs_d_2", user_id="u-li-wei", user_name="Li Wei", role="engineer"
    )
    synced.close()
    with FieldClient(synced.home, http=httpx.MockTransport(lambda r: answer(reply)), retries=0) as client:
        client.login("http://other.test", "fs_e_token")
        assert client.store.read(known_limits) is None


def test_an_upgrade_required_answer_to_the_pull_surfaces_and_changes_nothing(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    refusal = answer(ErrorBody(error="upgrade_required", message="upgrade the field client", field="path"), status=426)
    server = FakeServer(refusal)
    client = reopen(synced, server)
    before = store_snapshot(client)
    commits = Commits(client)

    with pytest.raises(UpgradeRequired) as refused:
        client.sync()

    assert refused.value.status == 426 and "upgrade" in refused.value.message
    assert server.paths == ["pull"]
    assert commits.count == 0 and store_snapshot(client) == before


def test_every_sync_path_names_the_protocol_version(synced: FieldClient, reopen, laptops_speak) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def too_new(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answer(ErrorBody(error="upgrade_required", message="upgrade", field="path"), status=426)

    synced.close()
    laptops_speak(2)
    with FieldClient(synced.home, http=httpx.MockTransport(too_new), retries=0) as client:
        with pytest.raises(UpgradeRequired):
            client.sync()
        client.record_event(JOB, Checkin())
        with pytest.raises(UpgradeRequired):
            client.sync()
        assert len(client.pending()) == 1
    assert seen == ["/sync/v2/pull", "/sync/v2/hello"]


# --- pulled pages in bulk -----------------------------------------------------------------------


def _changed(record: Any, **fields: Any) -> Any:
    return msgspec.structs.replace(record, **fields)


def mixed_page(cursor: str = "8-fedcba9876543210") -> PullPage:
    """Removes (one of them of a job pending work needs, one of a record the laptop never held),
    upserts, a record removed then sent again, the same record twice, and a record new to the
    laptop."""
    records = {(type(r).__name__, r.id): r for r in demo_records()}
    job1, job3 = records[("Job", JOB)], records[("Job", IDLE_JOB)]
    eq1 = records[("Equipment", "EQ-001")]
    stock = [r for r in records.values() if isinstance(r, Stock)][0]
    return PullPage(
        changes=[
            Remove(entity="job", id=JOB, reason="left_scope"),  # pending work: kept
            Remove(entity="site", id="S-01", reason="left_scope"),  # needed too: kept
            Remove(entity="job", id=IDLE_JOB, reason="left_scope"),  # removed
            Remove(entity="equipment", id="EQ-009", reason="deleted"),  # removed
            Remove(entity="equipment", id="EQ-NEVER-HELD", reason="left_scope"),  # of a lost page: nothing
            Upsert(version=20, record=_changed(job3, fault="back in scope")),  # removed above, back again
            Upsert(version=21, record=_changed(eq1, firmware="2.0")),
            Upsert(version=22, record=_changed(eq1, firmware="2.1")),  # the same record twice: the last wins
            Upsert(version=23, record=_changed(stock, qty=stock.qty - 1)),
            Upsert(version=24, record=Equipment(id="EQ-NEW", site_id="S-01", model="X1", serial="SN-NEW")),
            Remove(entity="part", id="PSU-750W", reason="deleted"),  # a remove after upserts
            Upsert(version=25, record=_changed(job1, fault="updated while kept")),  # kept, then sent again
        ],
        cursor=cursor,
        more=False,
        server_hlc=SERVER_HLC,
    )


def reference_apply(conn: sqlite3.Connection, page: PullPage) -> None:
    """What a page did before the bulk path: one statement per change, in order."""
    needed = None
    for change in page.changes:
        if isinstance(change, Upsert):
            replica.put(conn, change.record, change.version)
        else:
            if needed is None:
                needed = replica.needed_by_outbox(conn)
            replica.remove(conn, change.entity, change.id, needed)
    set_meta(conn, "cursor", page.cursor)


class _Undo(Exception):
    pass


def applied(client: FieldClient, apply: Callable[[sqlite3.Connection], None]) -> dict[str, Any]:
    """The store after ``apply``, rolled back again (so both ways start from the same store)."""
    seen: dict[str, Any] = {}

    def work(conn: sqlite3.Connection) -> None:
        apply(conn)
        seen.update(snapshot(conn))
        raise _Undo

    with pytest.raises(_Undo):
        client.store.write(work)
    for volatile in ("hlc", "clock_offset_ms", "last_sync_at"):  # the clock, learnt from the page
        seen["meta"].pop(volatile, None)
    return seen


def page_transport(page: PullPage | bytes, fmt: str) -> Transport:
    content = page if isinstance(page, bytes) else encode(page, fmt)  # type: ignore[arg-type]
    mock = httpx.MockTransport(lambda r: httpx.Response(200, content=content, headers={"Content-Type": fmt}))
    return Transport("http://field.test", "tok", retries=0, http=mock)


@pytest.mark.parametrize("fmt", [JSON, MSGPACK])
def test_a_page_applied_in_bulk_leaves_the_store_as_record_by_record(laptop: FieldClient, fmt: str) -> None:
    laptop.record_event(JOB, Checkin(note="pending: keeps J-0001 and its world"))
    page = mixed_page()
    received, data = pulling.pull_page(page_transport(page, fmt), CURSOR, 300)
    assert received == page and (data is None) == (fmt == MSGPACK)
    report = SyncReport()

    bulk = applied(laptop, lambda c: pulling.apply_page(c, received, data, report))
    reference = applied(laptop, lambda c: reference_apply(c, page))

    assert bulk == reference
    assert bulk["records"][("job", JOB)][2] == 0  # kept, then sent again: held normally
    assert bulk["records"][("site", "S-01")][2] == 1  # kept for the pending check-in
    assert ("equipment", "EQ-009") not in bulk["records"] and ("part", "PSU-750W") not in bulk["records"]
    assert bulk["records"][("equipment", "EQ-001")][0] == 22
    assert (report.pulled, report.removed, report.kept) == (6, 3, 2)


def test_a_pulled_record_is_stored_as_the_json_the_server_sent(laptop: FieldClient) -> None:
    job = [r for r in demo_records() if isinstance(r, Job)][0]
    # As a server that keeps every field, defaults included, in its own order, may send it.
    sent = json.dumps(
        {"status": job.status, **msgspec.to_builtins(job), "flags": []}, ensure_ascii=False, separators=(",", ":")
    )
    body = (
        '{"changes":[{"op":"upsert","version":30,"record":' + sent + "}],"
        f'"cursor":"{CURSOR}","more":false,"server_hlc":"{SERVER_HLC}"}}'
    ).encode()
    page, data = pulling.pull_page(page_transport(body, JSON), None, 300)
    laptop.store.write(lambda c: pulling.apply_page(c, page, data, SyncReport()))

    stored = laptop.store.read(
        lambda c: c.execute("SELECT data, typeof(data) FROM records WHERE entity='job' AND id=?", (job.id,)).fetchone()
    )
    assert tuple(stored) == (sent, "text")
    assert laptop.record("job", job.id) == job


@pytest.mark.parametrize("fmt", [JSON, MSGPACK])
def test_a_malformed_page_is_refused_by_field_and_changes_nothing(synced: FieldClient, reopen, fmt: str) -> None:  # type: ignore[no-untyped-def]
    page = msgspec.to_builtins(mixed_page())
    page["changes"][6]["record"]["install_date"] = "last tuesday"
    server = FakeServer(httpx.Response(200, content=encode(page, fmt), headers={"Content-Type": fmt}))  # type: ignore[arg-type]
    client = reopen(synced, server)
    before = store_snapshot(client)
    commits = Commits(client)

    with pytest.raises(MalformedMessage) as refused:
        client.sync()

    assert refused.value.field == "changes[6].record.install_date"
    assert commits.count == 0 and store_snapshot(client) == before


def test_a_page_that_is_not_json_is_refused_and_changes_nothing(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    body = encode(mixed_page(), JSON)[:-40]  # cut short
    client = reopen(synced, FakeServer(httpx.Response(200, content=body, headers={"Content-Type": JSON})))
    before = store_snapshot(client)
    with pytest.raises(MalformedMessage) as refused:
        client.sync()
    assert refused.value.field == "body"
    assert store_snapshot(client) == before


def test_a_pulled_page_is_one_commit_with_its_cursor(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    second = PullPage(
        changes=[Upsert(version=40, record=Stock(id="van:u-li-wei|X", location="van:u-li-wei", sku="X", qty=1))],
        cursor="9-0000000000000009",
        more=False,
        server_hlc=SERVER_HLC,
    )
    first = msgspec.structs.replace(mixed_page("8-fedcba9876543210"), more=True)
    server = FakeServer(first, second)
    client = reopen(synced, server)
    commits = Commits(client)

    report = client.sync()

    assert server.paths == ["pull", "pull"] and commits.count == 2
    assert [decode(r.content, PullRequest).cursor for r in server.requests] == [CURSOR, "8-fedcba9876543210"]
    assert client.store.read(lambda c: get_meta(c, "cursor")) == "9-0000000000000009"
    assert (report.pages, report.pulled) == (2, 7)
    assert client.record("stock", "van:u-li-wei|X").qty == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefetch", [True, False])
def test_a_page_committed_without_waiting_for_the_disk_is_durable_before_the_server_relies_on_it(
    synced: FieldClient, monkeypatch: pytest.MonkeyPatch, prefetch: bool
) -> None:
    """Pages that more pages follow commit with ``synchronous=NORMAL``; a power cut may undo
    them, and the laptop comes back at an older cursor, which the server must still take: the
    one it was sent last (a plain request) or the one before it (a prefetch, which the server
    takes as the acknowledgement of a page the laptop has not committed yet). So before a plain
    request naming a cursor, that cursor's page is durable; before a prefetch naming a cursor,
    every page committed before that cursor's is. The last page commits durably."""
    monkeypatch.setattr(pulling, "PREFETCH", prefetch)
    cursors = [f"{n}-{n:016x}" for n in range(8, 12)]
    pages = [
        PullPage(
            changes=[
                Upsert(version=40 + i, record=Stock(id=f"van:u-li-wei|X{i}", location="van:u-li-wei", sku="X", qty=i))
            ],
            cursor=cursor,
            more=i < len(cursors) - 1,
            server_hlc=SERVER_HLC,
        )
        for i, cursor in enumerate(cursors)
    ]
    server = FakeServer(*pages)
    events: list[tuple[str, Any, bool]] = []  # appended in the order things happened, from both threads

    def logged_server(request: httpx.Request) -> httpx.Response:
        pull = decode(request.content, PullRequest)
        events.append(("request", pull.cursor, pull.prefetch))
        return server(request)

    synced.close()
    client = FieldClient(synced.home, http=httpx.MockTransport(logged_server), retries=0, backoff=0.0)
    write, flush = client.store.write, client.store.flush

    def logged_write(fn: Callable[[sqlite3.Connection], Any], durable: bool = True) -> Any:
        result = write(fn, durable=durable)
        events.append(("commit", client.store.read(lambda c: get_meta(c, "cursor")), durable))
        return result

    def logged_flush() -> None:
        events.append(("flush", None, True))  # covers every commit logged before it began
        flush()

    client.store.write, client.store.flush = logged_write, logged_flush  # type: ignore[method-assign]

    assert client.sync().pulled == len(cursors)

    committed, durable = [CURSOR], {CURSOR}
    for kind, cursor, flag in events:
        if kind == "commit":
            committed.append(cursor)
            if flag:
                durable |= set(committed)
        elif kind == "flush":
            durable |= set(committed)
        elif flag:  # a prefetch naming ``cursor``: what was committed before it is durable
            assert set(committed) - {cursor} <= durable, (cursor, events)
        else:
            assert cursor in durable, (cursor, events)
    assert committed[-1] == cursors[-1] and set(committed) <= durable
    assert [flag for kind, _, flag in events if kind == "commit"] == [False] * (len(cursors) - 1) + [True]
    client.close()


# --- pushes --------------------------------------------------------------------------------------


def test_a_push_sends_the_stored_mutations_as_they_were_encoded(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin(note="in"))
    laptop.edit("site", "S-01", contact_phone="+86 21 0000 0001")
    laptop.record_event(JOB, Note(text="注意: 机房 B2"))
    bodies = laptop.store.read(lambda c: outbox.pending_bodies(c))
    typed = laptop.store.read(lambda c: outbox.pending(c))

    spliced = encode(SplicedPushRequest(mutations=[msgspec.Raw(b) for _, b in bodies]), MSGPACK)
    assert spliced == encode(PushRequest(mutations=[p.mutation for p in typed]), MSGPACK)
    assert [seq for seq, _ in bodies] == [p.seq for p in typed] == [1, 2, 3]
    assert laptop.store.read(lambda c: outbox.pending_bodies(c, limit=2, max_bytes=10)) == bodies[:1]


def test_settle_takes_a_seqs_first_answer_in_a_scattered_reply(laptop: FieldClient) -> None:
    for text in "abcde":
        laptop.record_event(JOB, Note(text=text))
    results = [
        MutationResult(seq=4, status="applied", version=9),
        MutationResult(seq=2, status="rejected", reason="invalid", field="text"),
        MutationResult(seq=4, status="rejected", reason="late"),  # a second answer: ignored
        MutationResult(seq=99, status="applied"),
    ]  # unknown: ignored
    laptop.store.write(lambda c: outbox.settle(c, results))

    assert [r["seq"] for r in outbox_rows(laptop)] == [1, 3, 5]
    answers = laptop.answers()
    assert [(a["seq"], a["status"], a["version"]) for a in answers] == [(4, "applied", 9), (2, "rejected", None)]
    assert laptop.store.read(
        lambda c: [r[0] is not None for r in c.execute("SELECT body FROM answers ORDER BY rowid")]
    ) == [False, True]


def test_the_push_answer_is_settled_in_one_commit_per_batch(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        synced.record_event(JOB, Note(text=f"note {i}"))
    server = FakeServer(hello=msgspec.structs.replace(HELLO, limits=Limits(max_push_batch=2)))
    client = reopen(synced, server)
    commits = Commits(client)

    client.sync()

    assert server.paths == ["hello", "push", "push", "push", "pull"]
    assert [[m.seq for m in p.mutations] for p in server.pushed] == [[1, 2], [3, 4], [5]]
    # New limits are remembered (1), each answer is settled (3), the empty page writes nothing.
    assert commits.count == 1 + 3
    assert client.store.read(known_limits) == Limits(max_push_batch=2)
    assert outbox_rows(client) == [] and len(client.answers()) == 5


def test_a_push_keeps_the_events_it_appended_at_the_versions_the_answer_gave(synced: FieldClient, reopen) -> None:  # type: ignore[no-untyped-def]
    """The laptop says it keeps its events (``keeps_events``), so the server will not send them
    back: it stores each, as the server stores it (author and device from its token), at the
    version its answer gave, in the commit that settles the answer."""
    recorded = [synced.record_event(JOB, Note(text=f"kept {i}")) for i in range(2)]
    server = FakeServer()
    client = reopen(synced, server)

    client.sync()

    assert [p.keeps_events for p in server.pushed] == [True]
    held = client.store.read(
        lambda c: {r[0]: (r[1], r[2]) for r in c.execute("SELECT id, version, data FROM records WHERE entity='event'")}
    )
    sent = [m.event for m in server.pushed[0].mutations]  # as pushed (re-stamped on the way)
    assert [e.id for e in sent] == [e.id for e in recorded]
    for seq, event in enumerate(sent, start=1):
        version, data = held[event.id]
        assert version == 100 + seq
        assert replica.decode(data) == msgspec.structs.replace(event, author=USER_ID, device_id=DEVICE_ID)


def test_an_answer_the_server_no_longer_holds_makes_the_laptop_pull_its_scope_again(
    synced: FieldClient, reopen
) -> None:  # type: ignore[no-untyped-def]
    """``already_applied``: the server applied the mutation long ago and cleaned its answer up,
    so this laptop never learnt the version of an event it may keep, which no pull would send
    it. It drops the server's records and pulls from the start."""
    synced.record_event(JOB, Note(text="answered long ago"))
    server = FakeServer(reason="already_applied")
    client = reopen(synced, server)

    client.sync()

    pulls = [decode(r.content, PullRequest) for r in server.requests if r.url.path == "/sync/v1/pull"]
    assert pulls[0].cursor is None
    assert outbox_rows(client) == []
