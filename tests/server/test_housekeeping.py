"""Housekeeping: old push answers and tombstones go, exactly-once and pulls stay intact."""

from __future__ import annotations

import datetime as dt

import pytest

from server import housekeeping
from server.storage import audit
from server.storage import records as store
from server.scheduler import ScheduledWork
from sync_protocol import Checkin, PushRequest, PushReply, Remove, decode

from .conftest import World
from tests.support.databases import write_config

DAY = dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def work(world: World) -> ScheduledWork:
    return ScheduledWork(world.db, world.data_dir, world.state.clock)


def _events(world: World, job_id: str) -> int:
    return world.db.read(
        lambda c: c.execute("SELECT count(*) FROM records WHERE entity='event' AND parent=?", (job_id,)).fetchone()[0]
    )


def _answers(world: World) -> int:
    return world.db.read(lambda c: c.execute("SELECT count(*) FROM applied").fetchone()[0])


def test_a_retry_after_its_answer_was_cleaned_is_not_applied_twice(world: World, work: ScheduledWork) -> None:
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    batch = [laptop.event("J-1", Checkin(note="arrived"))]
    first = laptop.push(*batch).results[0]
    assert first.status == "applied" and _answers(world) == 1
    job_version, events = world.version("job", "J-1"), _events(world, "J-1")

    assert work.housekeeping(_now() + 29 * DAY).answers_deleted == 0  # within retention: kept
    assert laptop.push(*batch).results[0] == first  # the stored answer, as before

    assert work.housekeeping(_now() + 31 * DAY).answers_deleted == 1
    assert _answers(world) == 0
    response = laptop.post("/sync/v1/push", PushRequest(mutations=batch))
    retried = decode(response.content, PushReply, laptop.fmt)
    assert (retried.results[0].status, retried.results[0].reason) == ("applied", "already_applied")
    assert retried.high_seq == 1
    assert (world.version("job", "J-1"), _events(world, "J-1")) == (job_version, events)
    # The device's position survives the cleanup: its next mutation is seq 2, not seq 1 again.
    assert laptop.push(laptop.event("J-1", Checkin(note="again"))).results[0].status == "applied"


def test_cleaning_answers_is_audited_and_running_twice_cleans_nothing_more(world: World, work: ScheduledWork) -> None:
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    laptop.push(laptop.event("J-1", Checkin()))
    later = _now() + 40 * DAY
    assert work.housekeeping(later).answers_deleted == 1
    assert work.housekeeping(later) == housekeeping.Swept(0, 0, 0)
    rows = [r for r in world.db.read(lambda c: list(audit.rows(c))) if r.kind == "housekeeping.clean_applied"]
    assert len(rows) == 1 and rows[0].version == 1
    assert world.db.read(audit.verify).ok


def test_the_answer_retention_comes_from_config_toml(world: World, work: ScheduledWork) -> None:
    write_config(world.data_dir, "[housekeeping]\napplied_retention_days = 2\n")
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    laptop.push(laptop.event("J-1", Checkin()))
    assert work.housekeeping(_now() + 1 * DAY).answers_deleted == 0
    assert work.housekeeping(_now() + 3 * DAY).answers_deleted == 1


def test_an_old_tombstone_is_purged_and_laptops_still_learn_of_the_deletion(world: World, work: ScheduledWork) -> None:
    early, late = world.device("u-li-wei"), world.device("u-li-wei")
    early.pull_all()
    late.pull_all()
    world.db.write(lambda c: store.delete(c, "equipment", "EQ-2"))
    assert [(c.entity, c.id, c.reason) for c in early.pull_all() if isinstance(c, Remove)] == [
        ("equipment", "EQ-2", "deleted")
    ]  # one laptop syncs before the purge

    t0 = _now()
    assert work.housekeeping(t0).tombstones_seen == 1
    assert work.housekeeping(t0 + 89 * DAY).tombstones_purged == 0
    assert world.db.read(lambda c: store.get(c, "equipment", "EQ-2", include_deleted=True)) is not None
    assert work.housekeeping(t0 + 91 * DAY).tombstones_purged == 1
    assert world.db.read(lambda c: store.get(c, "equipment", "EQ-2", include_deleted=True)) is None

    # The laptop away for three months still gets the removal, from its own scope memory.
    assert [(c.entity, c.id, c.reason) for c in late.pull_all() if isinstance(c, Remove)] == [
        ("equipment", "EQ-2", "deleted")
    ]
    assert early.pull_all() == []
    fresh = world.device("u-li-wei")  # and a new laptop never sees it
    assert "EQ-2" not in {getattr(c, "record", c).id for c in fresh.pull_all()}

    purge = [r for r in world.db.read(lambda c: list(audit.rows(c))) if r.kind == "housekeeping.purge_tombstone"]
    assert [(r.entity, r.id) for r in purge] == [("equipment", "EQ-2")]
    assert world.db.read(audit.verify).ok


def test_a_record_that_came_back_restarts_its_tombstone_clock(world: World, work: ScheduledWork) -> None:
    stored = world.db.read(lambda c: store.get(c, "equipment", "EQ-3"))
    world.db.write(lambda c: store.delete(c, "equipment", "EQ-3"))
    t0 = _now()
    work.housekeeping(t0)
    world.db.write(lambda c: store.put(c, stored.record))  # restored by the office
    work.housekeeping(t0 + 50 * DAY)
    world.db.write(lambda c: store.delete(c, "equipment", "EQ-3"))  # deleted again
    work.housekeeping(t0 + 60 * DAY)
    assert work.housekeeping(t0 + 120 * DAY).tombstones_purged == 0  # 60 days, not 120
    assert work.housekeeping(t0 + 151 * DAY).tombstones_purged == 1


def test_live_records_are_never_purged(world: World, work: ScheduledWork) -> None:
    before = world.db.read(lambda c: c.execute("SELECT count(*) FROM records").fetchone()[0])
    work.housekeeping(_now() + 1000 * DAY)
    assert world.db.read(lambda c: c.execute("SELECT count(*) FROM records").fetchone()[0]) == before
