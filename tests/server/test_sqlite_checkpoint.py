"""The SQLite store copies its WAL back into the database file in a thread of its own, so that
no push or pull pays for it: a commit that crossed SQLite's 1,000-page mark used to wait
10-13 ms for the copy and its fsync."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from server.storage.sqlite import Database

PAGE = 4096


def _checkpointers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "wal-checkpoint" and t.is_alive())


def _fill(db: Database, megabytes: int) -> int:
    """About ``megabytes`` written in transactions of 50 pages; returns the rows written."""
    db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, data BLOB)"))
    batches = megabytes * 1024 * 1024 // (50 * PAGE)
    for _ in range(batches):
        db.write(lambda c: c.executemany("INSERT INTO blobs(data) VALUES (?)", [(b"x" * PAGE,)] * 50))
    return batches * 50


def test_commits_leave_the_copy_to_the_background_and_it_happens(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = Database(path)
    try:
        assert db.exclusive(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
        rows = _fill(db, 8)
        deadline = time.monotonic() + 10
        while path.stat().st_size < 6 * 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= 6 * 1024 * 1024, "the WAL's frames never reached the database file"
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == rows


def test_a_store_that_only_reads_starts_no_thread_and_closing_stops_it(tmp_path: Path) -> None:
    before = _checkpointers()
    reader = Database(tmp_path / "quiet.db")
    reader.read(lambda c: c.execute("SELECT 1").fetchone())
    assert _checkpointers() == before
    reader.close()
    writer = Database(tmp_path / "busy.db")
    _fill(writer, 1)
    assert _checkpointers() == before + 1
    writer.close()
    assert _checkpointers() == before
