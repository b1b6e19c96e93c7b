"""What several server processes over one database rely on, held on both backends: versions
are taken in commit order, scheduled work runs once per period, the schema is versioned, and a
push waiting for the change-log lock (on PostgreSQL) works from what committed while it waited.

Two threads with connections of their own stand in for two processes (on SQLite they share
the one writer, which gives the same order by construction)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any, Callable

import pytest

from server import auth, push
from server.principal import Principal
from server.scheduler import SLA_WATCH, ScheduledWork
from server.storage import audit, changes, open_database, scopes
from server.storage.base import lock_change_log
from server.storage import records as store
from sync_protocol import AppendEvent, Clock, Customer, JobEvent, PartSwap, PushReply, PushRequest, Stock, uuid7

from .conftest import World


def test_versions_are_taken_in_commit_order_across_connections(world: World) -> None:
    """A transaction that took a version and has not committed holds back the next one: a pull
    reading the store's version in between can never pass a change still in flight."""
    other = open_database(world.state.database)
    first_took, release = threading.Event(), threading.Event()
    versions: dict[str, int] = {}

    def slow(c: Any) -> None:
        versions["slow"] = store.put(c, Customer(id="C-slow", name="slow"))
        first_took.set()
        assert release.wait(10)

    def quick(c: Any) -> None:
        versions["quick"] = store.put(c, Customer(id="C-quick", name="quick"))

    slow_thread = threading.Thread(target=lambda: world.db.write(slow))
    slow_thread.start()
    assert first_took.wait(10)
    quick_thread = threading.Thread(target=lambda: other.write(quick))
    quick_thread.start()
    quick_thread.join(0.5)
    assert quick_thread.is_alive(), "the second writer must wait for the first to commit"
    assert world.db.read(lambda c: store.current_version(c)) < versions["slow"]  # not visible yet
    release.set()
    slow_thread.join(10)
    quick_thread.join(10)
    other.close()
    assert versions["quick"] == versions["slow"] + 1
    assert world.db.read(lambda c: store.current_version(c)) == versions["quick"]


def test_a_scheduled_job_runs_once_per_period_whichever_process_fires_it(world: World) -> None:
    other = open_database(world.state.database)
    try:
        at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
        mine, theirs = ScheduledWork(world.db, world.data_dir), ScheduledWork(other, world.data_dir)
        assert mine.run(SLA_WATCH, at, period=60) is not None
        assert theirs.run(SLA_WATCH, at + dt.timedelta(seconds=20), period=60) is None  # stood down
        assert theirs.run(SLA_WATCH, at + dt.timedelta(seconds=59), period=60) is not None  # next period
        assert mine.run(SLA_WATCH, at + dt.timedelta(seconds=60)) is not None  # by hand: always runs
    finally:
        other.close()


def test_the_schema_is_versioned_and_migrating_again_changes_nothing(world: World) -> None:
    assert world.db.migrate() == world.db.migrate()


def test_a_materialised_scope_is_planned_from_its_own_statistics(world: World) -> None:
    """A pull that materialises the device's scope joins it to ``records`` by key. PostgreSQL's
    autovacuum never analyses a temporary table, and without statistics the planner hashed the
    whole of ``records`` for every such pull (10 ms a pull at 20,000 records): the scope must
    come with its own. On SQLite the join order is fixed by the statement itself."""
    who = Principal("u-li-wei", "li-wei", "Li Wei", "engineer", "d-test")

    def fill_and_count(c: Any) -> tuple[int, float | None]:
        size = changes.fill_scope(c, who)
        if world.db.dialect != "postgresql":
            return size, None
        row = c.execute("SELECT reltuples FROM pg_class WHERE oid = 'temp.scope_now'::regclass").fetchone()
        return size, float(row[0])

    size, estimated = world.db.write(fill_and_count)
    assert size > 0
    if world.db.dialect == "postgresql":
        assert estimated == size, "the planner must know how many records the scope holds"


def test_a_first_pull_plans_by_the_scopes_size_with_its_tombstones(world: World) -> None:
    """A laptop's first pull chooses between walking the store by version and materialising its
    scope by the scope's size, counted before the first page goes out (``scopes.count_scope``).
    The count is of the scope, tombstones included (a walk reads them too), so that it reads
    index columns only: never fewer than the live records a pull would send."""
    who = Principal("u-li-wei", "li-wei", "Li Wei", "engineer", "d-test")
    office = Principal("u-chen-jing", "chen-jing", "Chen Jing", "dispatcher", "d-office")

    def sizes(c: Any) -> tuple[int, int, int]:
        return scopes.count_scope(c, who), changes.fill_scope(c, who), scopes.count_scope(c, office)

    counted, live, everything = world.db.write(sizes)
    assert counted == live > 0
    assert everything == world.db.read(lambda c: c.execute("SELECT count(*) FROM records").fetchone()[0]) > counted
    world.db.write(lambda c: store.delete(c, "equipment", "EQ-2"))  # at Li Wei's site
    assert world.db.write(sizes)[:2] == (live, live - 1)


def test_an_incremental_pulls_scope_statements_are_planned_once_per_connection(world: World) -> None:
    """Every incremental pull asks three questions of the records changed since a version (did
    a job or site move, what left the scope, what changed in it). On PostgreSQL each was planned
    afresh at every pull (0.3-0.45 ms each, more than running it): a prepared statement keeps a
    generic plan only when it costs no more than a custom one, and an open ``version > $n`` is
    planned as a third of the table. Bounded above by the version the page is computed at, each
    keeps its plan once the connection has run it a few times: prepared at its first run (not
    psycopg's sixth), from its sixth, so that a new connection of the pool is slow for a few
    pulls, not for ten."""
    if world.db.dialect != "postgresql":
        return  # SQLite plans a statement when it is prepared, and keeps it
    who = Principal("u-li-wei", "li-wei", "Li Wei", "engineer", "d-test")
    world.db.write(lambda c: store.put_many(c, [Customer(id=f"C-bulk-{i}", name="bulk") for i in range(5000)]))
    world.db.write(lambda c: c.execute("ANALYZE records"))  # as autovacuum leaves a store in use

    def pull_questions(c: Any) -> dict[str, int]:
        now = store.current_version(c)
        for _ in range(7):
            changes.roots_moved(c, who, now - 3, now, partway=False, purged_at=None)
            changes.left_since(c, who, now - 3, now, 100)
            scopes.changes_since(c, who, now - 3, now, 100)
        rows = c.execute(
            "SELECT statement, generic_plans FROM pg_prepared_statements WHERE statement LIKE '%version > %'"
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    plans = world.db.write(pull_questions)
    assert len(plans) == 3 and all(generic > 0 for generic in plans.values()), [g for g in plans.values()]


def test_many_records_are_read_at_once_across_entities(world: World) -> None:
    """What a push reads ahead of its mutations (``records.get_many``, one statement on
    PostgreSQL): each key finds its live record as ``get`` does, and an unknown key or a
    tombstone finds None; an entity's id does not find another entity's record."""

    def read(c: Any) -> dict[tuple[str, str], Any]:
        store.put(c, Customer(id="C-gone", name="gone"))
        store.delete(c, "customer", "C-gone")
        keys = [("customer", "C-01"), ("site", "S-01"), ("customer", "C-gone"), ("site", "C-01"), ("job", "nope")]
        found = store.get_many(c, keys + [("customer", "C-01")])
        assert sorted(found) == sorted(keys)
        expected = {key: store.get(c, *key) for key in keys}
        return {key: (found[key], expected[key]) for key in keys}

    pairs = world.db.write(read)
    assert [key for key, (got, _) in pairs.items() if got is not None] == [("customer", "C-01"), ("site", "S-01")]
    for got, expected in pairs.values():
        assert got == expected


def test_a_change_reads_back_only_the_records_it_made(world: World) -> None:
    """An office edit, a scheduled job or a pushed patch chains what it changed by reading the
    records whose version moved past its mark. PostgreSQL has no statistics for a store it has
    not analysed yet (just after ``migrate`` or ``load-fixtures``, until autovacuum comes round)
    and planned an open ``version > mark`` as a third of the table: every edit read all of
    ``records``, 27 ms an edit at 100,000 records. The read must stay on the version index."""
    world.db.write(lambda c: store.put_many(c, [Customer(id=f"C-bulk-{i}", name="bulk") for i in range(3000)]))
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)

    def scanned(c: Any) -> int:
        if world.db.dialect != "postgresql":
            return 0
        row = c.execute("SELECT seq_tup_read FROM pg_stat_xact_user_tables WHERE relname = 'records'").fetchone()
        return int(row[0]) if row else 0

    def edit(c: Any) -> tuple[list[tuple[str, str]], int]:
        mark = store.change_mark(c)
        store.put(c, Customer(id="C-edited", name="edited"))
        store.put(c, Customer(id="C-also", name="also changed"))
        before = scanned(c)
        rows = audit.append_changes_since(
            c, mark, at, audit.Actor("u-chen-jing", "d-test"), "office.edit", primary=("customer", "C-edited")
        )
        return [(row.entity, row.id) for row in rows], scanned(c) - before

    chained, read = world.db.write(edit)
    assert chained == [("customer", "C-edited"), ("customer", "C-also")]
    assert read == 0, f"chaining two changes read {read} rows of records"


def test_a_push_waiting_for_the_change_log_lock_sees_a_correction_committed_meanwhile(world: World) -> None:
    """Two server processes push at once: one waits for the change-log lock while the other
    commits. What the other committed must not be lost: here a dispatcher's correction of the
    van's stock lands while the push waits, and the swap is taken from the corrected count (a
    push that read the stock row before the lock and wrote it after would undo the correction;
    see docs/performance.md, "A push worked out before the change-log lock", tried and not kept)."""
    sid = "van:u-li-wei|FAN-80MM"

    def correct_the_count(c: Any) -> None:
        mark = store.change_mark(c)
        store.put(c, Stock(id=sid, location="van:u-li-wei", sku="FAN-80MM", qty=10), store.get(c, "stock", sid))
        audit.append_changes_since(c, mark, dt.datetime.now(dt.timezone.utc), audit.Actor("u-ops", ""), "office.edit")

    reply = _push_while_another_commits(world, correct_the_count)
    assert reply.results[0].status == "applied"
    assert world.record("stock", sid).qty == 9
    assert world.db.read(audit.verify).ok


def test_a_push_waiting_for_the_change_log_lock_sees_a_serial_installed_meanwhile(world: World) -> None:
    """The same, when another engineer's push installs the very serial this push installs: it
    shares no record with this one, only the serial, and this push must still flag the clash."""
    device_id = world.db.write(lambda c: auth.create_device(c, "u-zhang-min", "test", "pytest")[0])
    zhang = Principal("u-zhang-min", "zhang-min", "Zhang Min", "engineer", device_id)
    swap = PartSwap(equipment_id="EQ-3", sku="FAN-80MM", serial_out="N-1", serial_in="F-9")
    hlc = Clock().tick()
    event = JobEvent(id=uuid7(), job_id="J-2", hlc=hlc, at=dt.datetime.now(dt.timezone.utc), payload=swap)
    elsewhere = PushRequest(mutations=[AppendEvent(seq=1, hlc=hlc, event=event)])

    def install_it_elsewhere(c: Any) -> None:
        assert push.push(c, zhang, elsewhere, push.ServerClock()).results[0].status != "rejected"

    reply = _push_while_another_commits(world, install_it_elsewhere)
    assert [c.kind for c in world.conflicts() if c.kind == "serial"] == ["serial"]
    assert reply.results[0].status == "conflict"
    assert world.db.read(lambda c: store.serial_holder(c, "F-9"))[0] == "EQ-1"  # the later swap holds it
    assert world.db.read(audit.verify).ok


def _push_while_another_commits(world: World, meanwhile: Callable[[Any], None]) -> PushReply:
    """Li Wei's laptop pushes a fan swap on J-1 (F-9 in) while another transaction holds the
    change-log lock: it runs ``meanwhile`` once the push waits for the lock, then commits."""
    if world.db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: a push holds it before it reads anything")
    laptop = world.device("u-li-wei")
    other, watcher = open_database(world.state.database), open_database(world.state.database)
    replies: list[PushReply] = []

    def hold_the_lock_then(c: Any) -> None:
        lock_change_log(c)
        pusher.start()
        deadline = time.monotonic() + 10
        while not watcher.read(lambda r: r.execute(_WAITING_FOR_THE_LOCK).fetchone()[0]):
            assert time.monotonic() < deadline, "the push never came to wait for the lock"
            time.sleep(0.005)
        meanwhile(c)

    swap = PartSwap(equipment_id="EQ-1", sku="FAN-80MM", serial_out="F-1", serial_in="F-9")
    pusher = threading.Thread(target=lambda: replies.append(laptop.push(laptop.event("J-1", swap))))
    try:
        other.write(hold_the_lock_then)
    finally:
        if pusher.ident is not None:  # started: the lock was taken
            pusher.join(15)
        other.close()
        watcher.close()
    assert replies, "the push did not answer"
    return replies[0]


# In this test's database only: pg_locks lists the whole server's, and tests run side by side.
_WAITING_FOR_THE_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def test_a_version_counter_written_early_still_counts_the_versions_taken_after_it(world: World) -> None:
    """A push writes the store's version counter in its last round trip while it holds the
    change-log lock (``records.write_version``), not in one of its own before the commit. A
    version taken after that must still reach the counter, or the next writer takes it again."""

    def work(c: Any) -> tuple[int, int]:
        first = store.put(c, Customer(id="C-early-1", name="one"))
        store.write_version(c)
        return first, store.put(c, Customer(id="C-early-2", name="two"))

    first, second = world.db.write(work)
    assert second == first + 1
    assert world.db.read(store.current_version) == second
    assert world.db.write(lambda c: store.put(c, Customer(id="C-early-3", name="three"))) == second + 1
