"""What a sync sends and commits, over real HTTP: a sync with nothing to send is one pull, and
one with work to send is one push whose answer carries the pull page."""

from __future__ import annotations

import gzip
from typing import Any, Callable

import httpx
import msgspec
import pytest

from field_client import outbox, view
from field_client.store import get_meta, set_meta
from sync_protocol import Checkin, Note, PullRequest, Record, UpgradeRequired

from tests.support.live import Wire, office_patch


def count_commits(client: Any) -> Callable[[], int]:
    """Counts the laptop's write transactions from now on."""
    seen = {"n": 0}
    write = client.store.write

    def counted(fn: Any, **options: Any) -> Any:
        seen["n"] += 1
        return write(fn, **options)

    client.store.write = counted
    return lambda: seen["n"]


def test_a_sync_with_nothing_to_send_is_one_pull_and_commits_nothing_new(live_server, laptop) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    wire.log.clear()
    li.sync()  # the first sync says hello: no limits known yet
    assert [c[1] for c in wire.log][:2] == ["/sync/v1/hello", "/sync/v1/pull"]
    wire.log.clear()
    commits = count_commits(li)

    report = li.sync()

    assert [(c[0], c[1]) for c in wire.log] == [("POST", "/sync/v1/pull")]
    assert commits() == 0
    assert report.ok and (report.pulled, report.pushed) == (0, 0)


def test_pull_pages_come_gzip_compressed_to_the_field_client(live_server, laptop) -> None:
    seen: list[tuple[str | None, int, int]] = []

    def note(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/sync/v1/pull":
            raw = b"".join(response.stream)  # type: ignore[union-attr]  (as sent: the client inflates it)
            encoding = response.headers.get("content-encoding")
            seen.append((encoding, len(raw), len(gzip.decompress(raw) if encoding == "gzip" else raw)))
            return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw))
        return response

    li = laptop("li-wei", http=Wire(on_response=note))
    report = li.sync()

    assert report.ok and report.pulled > 0
    encoding, sent, inflated = seen[0]
    assert encoding == "gzip" and sent < inflated / 3
    assert li.status()["records"] == report.pulled


def test_pages_are_prefetched_while_the_page_before_commits(live_server, laptop) -> None:
    asked: list[tuple[str | None, bool]] = []

    def note(request: httpx.Request) -> None:
        if request.url.path == "/sync/v1/pull":
            body = msgspec.msgpack.decode(request.content, type=PullRequest)
            asked.append((body.cursor, body.prefetch))

    li = laptop("li-wei", http=Wire(before=note))
    report = li.sync(page_size=10)

    assert report.ok and report.pages >= 3
    assert asked[0] == (None, False) and all(prefetch for _, prefetch in asked[1:])
    whole = laptop("li-wei")
    whole.sync()
    assert sorted(li.store.read(held)) == sorted(whole.store.read(held))


def held(conn: Any) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in conn.execute("SELECT entity, id, version FROM records")]


def synced_with_a_site(laptop: Callable[..., Any]) -> tuple[Wire, Any, Any, int]:
    """Li Wei's laptop synced over a logged wire, the site of J-0001 and the version it holds."""
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    site = li.record("site", li.job("J-0001").site_id)
    return wire, li, site, li.store.read(lambda c: view.version(c, "site", site.id))


def test_an_office_change_is_one_pull_and_one_commit(live_server, laptop) -> None:
    wire, li, site, version = synced_with_a_site(laptop)
    assert office_patch(live_server, "site", site.id, version, name="Renamed") == "applied"
    wire.log.clear()
    commits = count_commits(li)

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/pull"] and commits() == 1
    assert report.pulled >= 1 and li.record("site", site.id).name == "Renamed"  # type: ignore[attr-defined]


def test_pending_work_says_hello_before_the_push_when_the_laptop_does_not_know_the_mark(live_server, laptop) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    li.store.write(lambda c: set_meta(c, outbox.MARK_KEY, None))  # as a laptop of an older client
    li.record_event("J-0001", Checkin(note="on site"))
    wire.log.clear()

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/hello", "/sync/v1/push"]
    assert report.applied == 1 and li.pending() == []


def test_the_first_work_after_the_first_sync_goes_up_without_hello(live_server, laptop) -> None:
    """The first sync said hello (the laptop knew no limits), and hello told where the server
    stands for the new device: the first push names that mark instead of saying hello again."""
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    li.record_event("J-0001", Checkin(note="on site"))
    wire.log.clear()

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/push"]
    assert report.applied == 1 and li.pending() == []


def test_a_push_after_a_push_names_the_mark_instead_of_saying_hello(live_server, laptop) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    li.record_event("J-0001", Checkin(note="on site"))
    li.sync()  # the first push says hello; its answer tells the mark
    li.record_event("J-0001", Note(text="PSU 1 dead"))
    wire.log.clear()

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/push"]
    assert report.applied == 1 and li.pending() == []


def rename_site_and_phone(server: Any, site_id: str, version: int) -> None:
    """The office renames a site and corrects its phone, as the laptop held it at ``version``."""
    status = office_patch(server, "site", site_id, version, name="Renamed", contact_phone="+86 21 0000 0000")
    assert status == "applied"


def test_work_sent_is_one_push_whose_answer_brings_the_scope_and_its_conflict_in_one_commit(
    live_server, laptop
) -> None:
    """The engineer edits the site's phone the office changed meanwhile: the push answer carries
    the page after it, the office's rename and the conflict record the push made, and the
    laptop commits the answers and the page together. Its next sync has nothing to fetch."""
    wire, li, site, held = synced_with_a_site(laptop)
    li.edit("site", site.id, contact_phone="+86 139 0000 0001")
    rename_site_and_phone(live_server, site.id, held)
    wire.log.clear()
    commits = count_commits(li)

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/push"] and commits() == 1
    assert report.conflicts == 1 and report.pages == 1 and li.pending() == []
    flagged = [c for c in li.conflicts() if c.record_id == site.id]
    assert [c.id for c in flagged] == report.flagged and flagged[0].other == "+86 21 0000 0000"
    assert li.record("site", site.id).name == "Renamed"  # type: ignore[attr-defined]
    wire.log.clear()
    assert li.sync().pulled == 0 and [c[1] for c in wire.log] == ["/sync/v1/pull"] and commits() == 1


def test_a_push_answer_whose_page_is_not_the_last_is_followed_by_pulls(live_server, laptop) -> None:
    wire, li, site, held = synced_with_a_site(laptop)
    rename_site_and_phone(live_server, site.id, held)
    li.record_event("J-0001", Checkin(note="on site"))  # the job goes on site: a second record changes
    wire.log.clear()

    report = li.sync(page_size=1)

    paths = [c[1] for c in wire.log]
    assert paths[0] == "/sync/v1/push" and len(paths) >= 2 and set(paths[1:]) == {"/sync/v1/pull"}
    assert report.pages == len(paths) and report.pulled >= 2
    assert li.record("site", site.id).name == "Renamed"  # type: ignore[attr-defined]
    assert li.job("J-0001").status == live_server.records("job")["J-0001"]["status"] == "on_site"


def test_a_push_naming_a_cursor_the_server_no_longer_takes_is_answered_without_a_page(live_server, laptop) -> None:
    """The laptop's cursor went back (its store restored from a copy): the push is applied and
    answered without a page, and the pull that follows meets ``cursor_reset`` and starts over."""
    wire, li, site, held = synced_with_a_site(laptop)
    old = li.store.read(lambda c: get_meta(c, "cursor"))
    rename_site_and_phone(live_server, site.id, held)
    li.sync()
    li.record_event("J-0001", Note(text="PSU 1 dead"))
    li.sync()  # two pages acknowledged since: ``old`` is no longer known
    li.store.write(lambda c: set_meta(c, "cursor", old))
    li.record_event("J-0001", Note(text="fan replaced"))
    wire.log.clear()

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/push", "/sync/v1/pull", "/sync/v1/pull"]
    assert report.applied == 1 and report.reset and li.pending() == []
    notes = [v.event.payload for v in li.events("J-0001") if isinstance(v.event.payload, Note) and not v.pending]
    assert sorted(n.text for n in notes) == ["PSU 1 dead", "fan replaced"]  # pulled again from the start


def test_a_lost_push_answer_is_asked_again_through_hello_and_nothing_is_applied_twice(live_server, laptop) -> None:
    lost = {"n": 0}

    def lose_first_push_answer(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/sync/v1/push" and lost["n"] == 1:
            lost["n"] += 1
            response.read()
            raise httpx.ReadError("answer lost after the server acted")
        if request.url.path == "/sync/v1/push":
            lost["n"] += 1
        return response

    wire = Wire(on_response=lose_first_push_answer)
    li = laptop("li-wei", http=wire)
    li.sync()
    li.record_event("J-0001", Checkin(note="on site"))
    li.sync()
    li.record_event("J-0001", Note(text="PSU 1 dead"))
    wire.log.clear()

    report = li.sync()

    # The mark push was applied, its answer lost; its retry names a mark the server has left.
    assert [c[1] for c in wire.log] == [
        "/sync/v1/push",
        "/sync/v1/push",
        "/sync/v1/hello",
        "/sync/v1/push",
    ]
    assert report.applied == 1 and li.pending() == []
    notes = [e for e in live_server.records("event").values() if e["payload"].get("text") == "PSU 1 dead"]
    assert len(notes) == 1


def test_a_mark_push_stamped_beyond_the_servers_clock_goes_by_hello_and_is_restamped(
    live_server, laptop, monkeypatch
) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    li.record_event("J-0001", Checkin(note="on site"))
    li.sync()
    ahead = __import__("field_client").clock.system_ms() + 3_600_000
    monkeypatch.setattr("field_client.clock.system_ms", lambda: ahead)  # the laptop's clock jumps an hour
    li.record_event("J-0001", Note(text="stamped an hour ahead"))
    wire.log.clear()

    report = li.sync()

    assert [c[1] for c in wire.log] == ["/sync/v1/push", "/sync/v1/hello", "/sync/v1/push"]
    assert report.applied == 1 and report.rejected == 0 and li.pending() == []


def test_a_client_too_old_is_refused_by_the_pull_of_a_no_op_sync(live_server, laptop, laptops_speak) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    before = li.store.read(lambda c: [tuple(r) for r in c.execute("SELECT key, value FROM meta ORDER BY key")])
    laptops_speak(2)
    wire.log.clear()
    commits = count_commits(li)

    with pytest.raises(UpgradeRequired) as refused:
        li.sync()

    assert refused.value.status == 426 and "upgrade" in refused.value.message
    assert [c[1] for c in wire.log] == ["/sync/v2/pull"] and commits() == 0
    assert li.store.read(lambda c: [tuple(r) for r in c.execute("SELECT key, value FROM meta ORDER BY key")]) == before


def test_pulled_records_are_held_as_the_server_holds_them(live_server, laptop) -> None:
    li = laptop("li-wei")
    li.sync()
    held = li.store.read(lambda c: [(r[0], r[1], r[2]) for r in c.execute("SELECT entity, id, version FROM records")])
    assert held
    for entity in {e for e, _, _ in held}:
        on_server = live_server.records(entity)
        for record_id in [i for e, i, _ in held if e == entity]:
            expected = msgspec.convert(on_server[record_id], Record)  # type: ignore[arg-type]
            assert li.record(entity, record_id) == expected
