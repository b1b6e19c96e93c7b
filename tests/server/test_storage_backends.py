"""What several server processes over one database rely on, held on both backends: versions
are taken in commit order, scheduled work runs once per period, and the schema is versioned.

Two threads with connections of their own stand in for two processes (on SQLite they share
the one writer, which gives the same order by construction)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from server.scheduler import SLA_WATCH, ScheduledWork
from server.storage import open_database
from server.storage import records as store
from sync_protocol import Customer

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
