"""Pull: an engineer gets exactly their scope, in acknowledged pages that survive a lost answer."""

from __future__ import annotations

import threading

import pytest

from server.storage import records as store
from sync_protocol import (
    ENTITY_TYPES,
    AssignRequest,
    Checkin,
    PartSwap,
    Equipment,
    ErrorBody,
    Hello,
    PullPage,
    PullRequest,
    Remove,
    Upsert,
    decode,
)


def _ids(changes, op=Upsert):
    return {
        (type(c.record).__name__ if op is Upsert else c.entity, c.record.id if op is Upsert else c.id)
        for c in changes
        if isinstance(c, op)
    }


# What Li Wei's laptop holds of the world: his job, its site, customer and equipment, the parts
# catalog and his own van's stock.
LI_WEI_SCOPE = {
    ("Job", "J-1"),
    ("Site", "S-01"),
    ("Customer", "C-01"),
    ("Equipment", "EQ-1"),
    ("Equipment", "EQ-2"),
    ("Part", "PSU-750W"),
    ("Part", "FAN-80MM"),
    ("Stock", "van:u-li-wei|PSU-750W"),
}


def test_an_engineer_receives_their_jobs_sites_equipment_parts_and_own_van_only(world, wire):
    changes = world.device("u-li-wei", wire).pull_all()
    assert _ids(changes) == LI_WEI_SCOPE
    assert all(c.version > 0 for c in changes)


def test_office_roles_receive_everything(world):
    changes = world.device("u-chen-jing").pull_all()
    assert ("Job", "J-2") in _ids(changes) and ("Stock", "van:u-zhang-min|PSU-750W") in _ids(changes)


def test_a_second_pull_sends_only_what_changed(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    assert laptop.pull_all() == []
    office = world.device("u-chen-jing")
    office.push(office.patch("site", "S-01", world.version("site", "S-01"), address="new address"))
    office.push(office.patch("site", "S-02", world.version("site", "S-02"), address="elsewhere"))
    assert _ids(laptop.pull_all()) == {("Site", "S-01")}


def test_pages_respect_the_limit_and_together_hold_the_whole_scope(world):
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-X{i:03}", site_id="S-01", model="cam", serial=f"C{i}") for i in range(25)]
        )
    )
    laptop = world.device("u-li-wei")
    seen, pages, cursor = [], 0, None
    while True:
        page = decode(laptop.post("/sync/v1/pull", PullRequest(cursor=cursor, limit=7)).content, PullPage)
        assert len(page.changes) <= 7
        seen += page.changes
        pages += 1
        cursor = page.cursor
        if not page.more:
            break
    ids = [(type(c.record).__name__, c.record.id) for c in seen]
    assert len(ids) == len(set(ids)) == 33 and pages == 5


def _paged_pull(laptop, held: dict, limit: int, between=lambda page: None) -> None:
    """Pull page by page into ``held`` (what a laptop keeps), calling ``between`` after each page."""
    while True:
        page = decode(laptop.post("/sync/v1/pull", PullRequest(cursor=laptop.cursor, limit=limit)).content, PullPage)
        for change in page.changes:
            if isinstance(change, Upsert):
                held[(type(change.record).__name__, change.record.id)] = change.version
            else:
                held.pop((ENTITY_TYPES[change.entity].__name__, change.id), None)
        laptop.cursor = page.cursor
        between(page)
        if not page.more:
            return


def test_a_scope_that_changes_between_the_pages_of_a_pull_still_ends_exact(world):
    """Pages after the first walk the version index without re-diffing the scope, unless the
    store moved: a job re-assigned away and a record edited mid-pull must still come out right."""
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-X{i:03}", site_id="S-01", model="cam", serial=f"C{i}") for i in range(25)]
        )
    )
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    held: dict = {}
    moves = iter(
        [
            lambda: office.push(
                office.patch("equipment", "EQ-X003", world.version("equipment", "EQ-X003"), model="cam 2")
            ),
            lambda: office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-zhang-min")),
            lambda: office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-li-wei")),
        ]
    )
    _paged_pull(laptop, held, 5, lambda page: next(moves, lambda: None)())
    expected: dict = {}
    _paged_pull(world.device("u-li-wei"), expected, 1000)
    assert held == expected
    assert held[("Equipment", "EQ-X003")] == world.version("equipment", "EQ-X003")
    assert laptop.pull_all() == []  # and the laptop is up to date: nothing further comes


@pytest.mark.parametrize(
    "entity, record_id, fields, gone, came",
    [
        ("equipment", "EQ-3", {"site_id": "S-01"}, set(), {("Equipment", "EQ-3")}),
        ("equipment", "EQ-2", {"site_id": "S-02"}, {("Equipment", "EQ-2")}, set()),
        (
            "job",
            "J-1",
            {"site_id": "S-02"},
            {("Site", "S-01"), ("Equipment", "EQ-1"), ("Equipment", "EQ-2"), ("Customer", "C-01")},
            {("Site", "S-02"), ("Equipment", "EQ-3"), ("Customer", "C-02")},
        ),
        ("site", "S-01", {"customer_id": "C-02"}, {("Customer", "C-01")}, {("Customer", "C-02")}),
    ],
    ids=["equipment-moves-in", "equipment-moves-out", "job-moves-site", "site-changes-customer"],
)
def test_an_edit_that_moves_records_across_the_scope_reaches_a_synced_laptop(
    world, entity, record_id, fields, gone, came
):
    """After a complete pull a laptop's next pull diffs only what changed, unless a job or site
    moved the scope: either way it must end holding exactly its scope."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    held: dict = {}
    _paged_pull(laptop, held, 1000)
    before = set(held)
    if entity == "job":  # a job's site is set at intake; only a fixture load moves it
        import msgspec

        world.db.write(lambda c: store.put(c, msgspec.structs.replace(world.record(entity, record_id), **fields)))
    else:
        reply = office.push(office.patch(entity, record_id, world.version(entity, record_id), **fields))
        assert reply.results[0].status == "applied", reply.results[0]
    _paged_pull(laptop, held, 1000)
    fresh: dict = {}
    _paged_pull(world.device("u-li-wei"), fresh, 1000)
    assert held == fresh
    assert before - set(held) == gone and set(held) - before == came


def test_a_laptop_with_a_small_scope_in_a_busy_store_gets_only_its_own_changes(world):
    """More changes elsewhere than records in its scope: the pull reads the scope, not the
    store's history, and must still find the one edit that is the engineer's."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    laptop.pull_all()
    assert laptop.pull_all() == []
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-Y{i:03}", site_id="S-02", model="cam", serial=f"Y{i}") for i in range(40)]
        )
    )
    office.push(office.patch("equipment", "EQ-1", world.version("equipment", "EQ-1"), model="R750"))
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-Z{i:03}", site_id="S-02", model="cam", serial=f"Z{i}") for i in range(40)]
        )
    )
    assert _ids(laptop.pull_all(limit=3)) == {("Equipment", "EQ-1")}


def test_a_deleted_record_leaves_a_synced_laptop(world):
    laptop = world.device("u-li-wei")
    held: dict = {}
    _paged_pull(laptop, held, 1000)
    world.db.write(lambda c: store.delete(c, "equipment", "EQ-2"))
    page = decode(laptop.post("/sync/v1/pull", PullRequest(cursor=laptop.cursor)).content, PullPage)
    assert [(c.entity, c.id, c.reason) for c in page.changes if isinstance(c, Remove)] == [
        ("equipment", "EQ-2", "deleted")
    ]


def test_an_up_to_date_laptop_is_answered_while_a_long_write_holds_the_store(world):
    """A sync that finds nothing new reads; it does not queue behind a push for the one writer."""
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    assert laptop.pull_all() == []  # acknowledges the last page: a write
    holding, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=lambda: world.db.write(lambda c: (holding.set(), release.wait(20))))
    writer.start()
    try:
        assert holding.wait(5)
        answer: dict = {}
        reader = threading.Thread(target=lambda: answer.update(changes=laptop.pull_all()))
        reader.start()
        reader.join(10)
        assert not reader.is_alive() and answer["changes"] == []
    finally:
        release.set()
        writer.join()


def test_a_lost_page_is_sent_again_when_the_previous_cursor_comes_back(world):
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-X{i:03}", site_id="S-01", model="cam", serial=f"C{i}") for i in range(10)]
        )
    )
    laptop = world.device("u-li-wei")
    first = decode(laptop.post("/sync/v1/pull", PullRequest(limit=6)).content, PullPage)
    second = decode(laptop.post("/sync/v1/pull", PullRequest(cursor=first.cursor, limit=6)).content, PullPage)
    # The laptop died before committing the second page: it asks again with the first cursor.
    again = decode(laptop.post("/sync/v1/pull", PullRequest(cursor=first.cursor, limit=6)).content, PullPage)
    assert again.changes == second.changes and again.more == second.more


def test_a_cursor_from_another_device_is_refused_naming_the_cursor(world):
    mine, other = world.device("u-li-wei"), world.device("u-li-wei")
    mine.pull_all()
    response = other.post("/sync/v1/pull", PullRequest(cursor=mine.cursor))
    assert response.status_code == 400
    assert decode(response.content, ErrorBody).field == "cursor"


def test_a_forgotten_cursor_asks_for_a_reset(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    old = laptop.cursor
    laptop.pull_all()
    office = world.device("u-chen-jing")
    office.push(office.patch("site", "S-01", world.version("site", "S-01"), address="x"))
    laptop.pull_all()  # acknowledges a newer page: `old` is two pages behind now
    laptop.pull_all()
    response = laptop.post("/sync/v1/pull", PullRequest(cursor=old))
    assert response.status_code == 409
    assert decode(response.content, ErrorBody).error == "cursor_reset"


def test_a_reassigned_job_leaves_the_old_scope_and_enters_the_new(world):
    li, zhang = world.device("u-li-wei"), world.device("u-zhang-min")
    li.pull_all()
    zhang.pull_all()
    li.push(li.event("J-1", Checkin()))
    office = world.device("u-chen-jing")
    assert office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-zhang-min")).status_code == 200
    removed = li.pull_all()
    assert {(c.entity, c.id, c.reason) for c in removed if isinstance(c, Remove)} >= {
        ("job", "J-1", "left_scope"),
        ("site", "S-01", "left_scope"),
        ("equipment", "EQ-1", "left_scope"),
    }
    assert not any(isinstance(c, Remove) and c.entity in ("part", "stock") for c in removed)
    entered = _ids(zhang.pull_all())
    assert {("Job", "J-1"), ("Site", "S-01"), ("Equipment", "EQ-1"), ("Customer", "C-01")} <= entered
    assert any(kind == "JobEvent" for kind, _ in entered)  # the work done so far comes along


@pytest.mark.parametrize(
    "who, assignee, status, error",
    [
        ("u-li-wei", "u-li-wei", 403, "forbidden"),
        ("u-zhao-lei", "u-li-wei", 403, "forbidden"),
        ("u-chen-jing", "u-chen-jing", 422, "invalid"),
        ("u-chen-jing", "nobody", 422, "invalid"),
    ],
)
def test_assign_refuses_wrong_roles_and_non_engineers(world, who, assignee, status, error):
    response = world.device(who).post("/api/v1/jobs/J-3/assign", AssignRequest(assignee=assignee))
    assert response.status_code == status
    assert decode(response.content, ErrorBody).error == error
    assert world.record("job", "J-3").assignee is None


def test_assign_names_an_unknown_job_and_refuses_a_closed_one(world):
    office = world.device("u-chen-jing")
    assert office.post("/api/v1/jobs/J-404/assign", AssignRequest(assignee="li-wei")).status_code == 404

    def close(conn):
        import msgspec

        stored = store.get(conn, "job", "J-3")
        store.put(conn, msgspec.structs.replace(stored.record, status="closed"))

    world.db.write(close)
    response = office.post("/api/v1/jobs/J-3/assign", AssignRequest(assignee="li-wei"))
    assert response.status_code == 409
    assert decode(response.content, ErrorBody).error == "illegal_transition"


def test_an_unsupported_protocol_version_asks_for_an_upgrade(world):
    laptop = world.device("u-li-wei")
    response = laptop.post("/sync/v1/hello", Hello(protocol_version=2))
    assert response.status_code == 426
    body = decode(response.content, ErrorBody)
    assert body.error == "upgrade_required" and "upgrade" in body.message
    response = world.client.post("/sync/v2/pull", content=b"{}", headers=laptop.headers)
    assert response.status_code == 426


def _page(laptop, cursor, limit, prefetch=False) -> PullPage:
    response = laptop.post("/sync/v1/pull", PullRequest(cursor=cursor, limit=limit, prefetch=prefetch))
    assert response.status_code == 200, response.text
    return decode(response.content, PullPage)


def _upserted(*pages: PullPage) -> list:
    return [(type(c.record).__name__, c.record.id) for p in pages for c in p.changes if isinstance(c, Upsert)]


def _cameras(world, count: int) -> None:
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-X{i:03}", site_id="S-01", model="cam", serial=f"C{i}") for i in range(count)]
        )
    )


def test_a_prefetch_answers_the_page_after_the_one_the_laptop_is_still_committing(world):
    _cameras(world, 25)
    laptop = world.device("u-li-wei")
    pages = [_page(laptop, None, 7)]
    while pages[-1].more:
        pages.append(_page(laptop, pages[-1].cursor, 7, prefetch=True))
    held = _upserted(*pages)
    assert len(held) == len(set(held)) == 33 and len(pages) == 5
    last = _page(laptop, pages[-1].cursor, 7)  # acknowledges the last page
    assert (last.changes, last.more) == ([], False)


def test_a_laptop_that_died_committing_a_prefetched_page_resumes_from_the_cursor_before_it(world):
    _cameras(world, 25)
    laptop = world.device("u-li-wei")
    first = _page(laptop, None, 7)
    second = _page(laptop, first.cursor, 7)  # committed with its cursor
    third = _page(laptop, second.cursor, 7, prefetch=True)  # asked for while committing the second
    assert third.changes and set(_upserted(third)).isdisjoint(_upserted(first, second))
    # It died before the second page committed: it comes back with the first cursor.
    again = _page(laptop, first.cursor, 7)
    assert again.changes == second.changes
    rest = [_page(laptop, again.cursor, 7)]
    while rest[-1].more:
        rest.append(_page(laptop, rest[-1].cursor, 7))
    held = _upserted(first, again, *rest)
    assert len(held) == len(set(held)) == 33


def test_a_prefetch_of_a_page_already_acknowledged_is_declined_and_changes_nothing(world):
    _cameras(world, 25)
    laptop = world.device("u-li-wei")
    first = _page(laptop, None, 7)
    second = _page(laptop, first.cursor, 7, prefetch=True)
    # The answer of that prefetch was lost; the same request comes again.
    declined = _page(laptop, first.cursor, 7, prefetch=True)
    assert (declined.changes, declined.cursor, declined.more) == ([], first.cursor, True)
    assert _page(laptop, first.cursor, 7).changes == second.changes  # the ordinary way still works


def test_a_page_of_records_entering_the_scope_is_not_prefetched_after(world):
    """Records entering the scope from before the cursor are held only once the page commits: a
    laptop dying meanwhile would never get them again, so their page declines a prefetch."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    held: dict = {}
    _paged_pull(laptop, held, 1000)
    _cameras(world, 3)
    office.post("/api/v1/jobs/J-2/assign", AssignRequest(assignee="u-li-wei"))
    entering = _page(laptop, laptop.cursor, 2)
    assert entering.more and entering.changes
    declined = _page(laptop, entering.cursor, 2, prefetch=True)
    assert (declined.changes, declined.cursor, declined.more) == ([], entering.cursor, True)


def test_a_lost_page_whose_records_then_leave_the_scope_leaves_nothing_behind(world):
    """A page walked by version is taken as held before the laptop commits it (it is sent again
    from the acknowledged version if lost). When it is lost and its records leave the scope
    before the laptop asks again, the laptop ends holding exactly its scope: the removes it gets
    for records it never held change nothing."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    held: dict = {}
    _paged_pull(laptop, held, 1000)
    _cameras(world, 10)
    lost = _page(laptop, laptop.cursor, 6)
    assert len(_upserted(lost)) == 6 and lost.more  # the laptop died before committing it
    assert office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-zhang-min")).status_code == 200
    _paged_pull(laptop, held, 4)
    fresh: dict = {}
    _paged_pull(world.device("u-li-wei"), fresh, 1000)
    assert held.keys() == fresh.keys()
    assert not any(record_id.startswith("EQ-X") for _, record_id in held)


def test_a_job_re_assigned_mid_pull_takes_away_what_the_laptop_got_of_it_before_the_job(world):
    """A pull sends records in version order, so a laptop part-way through a long pull may hold a
    job's customer, site and equipment without the job itself. When the job is re-assigned
    then, what the laptop holds cannot show the move: it must still be sent their removes (it
    kept another engineer's customer's site and equipment for good)."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    first = _page(laptop, None, 3)
    assert set(_upserted(first)) == {("Customer", "C-01"), ("Site", "S-01"), ("Equipment", "EQ-1")}
    assert first.more
    held: dict = {key: 0 for key in _upserted(first)}
    laptop.cursor = first.cursor
    assert office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-zhang-min")).status_code == 200
    _paged_pull(laptop, held, 3)
    fresh: dict = {}
    _paged_pull(world.device("u-li-wei"), fresh, 1000)
    van = ("Stock", "van:u-li-wei|PSU-750W")
    assert held.keys() == fresh.keys() == {("Part", "PSU-750W"), ("Part", "FAN-80MM"), van}


def test_a_lost_page_of_records_entering_the_scope_is_sent_again(world):
    """Records that enter the scope from before the cursor (a job assigned to the engineer) are
    not walked again from the acknowledged version: their page must wait for the laptop's
    acknowledgement, or a laptop that lost it would never get them."""
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    held: dict = {}
    _paged_pull(laptop, held, 1000)
    assert office.post("/api/v1/jobs/J-2/assign", AssignRequest(assignee="u-li-wei")).status_code == 200
    lost = _page(laptop, laptop.cursor, 2)
    assert lost.more and _upserted(lost)
    _paged_pull(laptop, held, 2)
    fresh: dict = {}
    _paged_pull(world.device("u-li-wei"), fresh, 1000)
    assert ("Job", "J-2") in held and held.keys() == fresh.keys()


@pytest.mark.parametrize("site", ["S-01", "S-02"])
def test_a_first_pull_is_exactly_the_scope_whether_it_walks_the_versions_or_materialises(world, site):
    """A first pull walks the version index when the scope is most of the store (40 more records
    at the engineer's site) and materialises the scope when it is not (40 at another site): the
    same records either way, in pages, with nothing out of scope."""
    world.db.write(
        lambda c: store.put_many(
            c, [Equipment(id=f"EQ-X{i:03}", site_id=site, model="cam", serial=f"C{i}") for i in range(40)]
        )
    )
    held: dict = {}
    _paged_pull(world.device("u-li-wei"), held, 6)
    extra = {("Equipment", f"EQ-X{i:03}") for i in range(40)} if site == "S-01" else set()
    assert set(held) == LI_WEI_SCOPE | extra


def test_an_up_to_date_device_is_answered_from_its_token_read_alone(world, monkeypatch):
    """Most syncs of a fleet find nothing new: the token's own statement reads the device's pull
    state too, so such a pull neither waits for the writer nor reads the store a second time.
    A device whose store moved meanwhile is sent what moved (through the writer)."""
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    assert laptop.pull_all() == []  # acknowledges the last page (a write)
    calls: list[str] = []
    for name in ("glance", "read", "write"):
        real = getattr(world.db, name)
        monkeypatch.setattr(world.db, name, lambda fn, name=name, real=real: calls.append(name) or real(fn))
    assert laptop.pull_all() == []
    assert calls == ["glance"]
    world.db.write(lambda c: store.put(c, Equipment(id="EQ-NEW", site_id="S-01", model="cam", serial="N1")))
    calls.clear()
    assert [c.record.id for c in laptop.pull_all()] == ["EQ-NEW"]
    assert calls[0] == "glance" and "write" in calls


def test_events_a_laptop_keeps_are_not_sent_back_to_it_but_what_they_changed_is(world):
    """A laptop that keeps the events it pushes (``keeps_events``) is not sent them again: it
    stored them at the versions the answer gave. What they changed on the server (the van's
    stock) still comes, and so do the events to every other laptop, and to a laptop that does
    not keep them."""
    laptop, spare, older = world.device("u-li-wei"), world.device("u-li-wei"), world.device("u-li-wei")
    for device in (laptop, spare, older):
        device.pull_all()
    kept = laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="PSU-750W", serial_out="P-1", serial_in="P-100"))
    answer = laptop.push(kept, keeps_events=True)
    assert [r.status for r in answer.results] == ["applied"]
    assert _ids(laptop.pull_all()) == {("Stock", "van:u-li-wei|PSU-750W")}
    assert ("JobEvent", kept.event.id) in _ids(spare.pull_all())
    sent_back = older.event("J-1", Checkin())
    older.push(sent_back)
    assert ("JobEvent", sent_back.event.id) in _ids(older.pull_all())


def test_a_kept_event_comes_again_once_it_changes_and_leaves_with_its_job(world):
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    laptop.pull_all()
    kept = laptop.event("J-1", Checkin())
    laptop.push(kept, keeps_events=True)
    laptop.pull_all()
    stored = world.db.read(lambda c: store.get(c, "event", kept.event.id))
    world.db.write(lambda c: store.put(c, stored.record, stored))  # a later version of it
    assert [(c.record.id, c.version) for c in laptop.pull_all()] == [
        (kept.event.id, world.version("event", kept.event.id))
    ]
    kept_again = laptop.event("J-1", Checkin())
    laptop.push(kept_again, keeps_events=True)
    office.post("/api/v1/jobs/J-1/assign", AssignRequest(assignee="u-zhang-min"))
    removed = _ids(laptop.pull_all(), Remove)
    assert {("event", kept.event.id), ("event", kept_again.event.id), ("job", "J-1")} <= removed


def test_a_laptop_pulling_from_the_start_gets_its_kept_events(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    kept = laptop.event("J-1", Checkin())
    laptop.push(kept, keeps_events=True)
    laptop.cursor = None  # it dropped what it held (a cursor reset)
    assert ("JobEvent", kept.event.id) in _ids(laptop.pull_all())
