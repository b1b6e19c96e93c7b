"""A full disk or a read-only store: a clear error, and nothing half-written.

SQLite is made to fail the way the real faults make it fail (``max_page_count`` gives
"database or disk is full", ``query_only`` gives "attempt to write a readonly database"),
at the one true boundary: the file system under the store.
"""

from __future__ import annotations

import pytest

from field_client import FieldClient, StoreUnavailable
from field_client.store import get_meta
from sync_protocol import Note

from .laptop_helpers import outbox_rows


def state(laptop: FieldClient) -> tuple:
    return laptop.store.read(
        lambda c: (get_meta(c, "next_seq"), get_meta(c, "hlc"), c.execute("SELECT count(*) FROM outbox").fetchone()[0])
    )


def test_a_full_disk_refuses_the_action_whole_and_says_what_to_do(laptop: FieldClient) -> None:
    pages = laptop.store._conn.execute("PRAGMA page_count").fetchone()[0]
    laptop.store._conn.execute(f"PRAGMA max_page_count={pages + 2}")
    recorded = 0
    with pytest.raises(StoreUnavailable) as full:
        for _ in range(100):  # the disk fills up as the engineer works
            before = state(laptop)
            laptop.record_event("J-0001", Note(text="x" * 3900))
            recorded += 1

    assert "disk is full" in full.value.message and "nothing was recorded" in full.value.message
    assert full.value.field == "home"
    assert state(laptop) == before and recorded > 0

    laptop.store._conn.execute(f"PRAGMA max_page_count={pages * 100}")  # space freed
    laptop.record_event("J-0001", Note(text="recorded once there is room"))
    assert [r["seq"] for r in outbox_rows(laptop)] == list(range(1, recorded + 2))


def test_a_read_only_store_refuses_the_action_whole(laptop: FieldClient) -> None:
    before = state(laptop)
    laptop.store._conn.execute("PRAGMA query_only=ON")

    with pytest.raises(StoreUnavailable) as readonly:
        laptop.record_event("J-0001", Note(text="cannot be written"))

    assert "read-only" in readonly.value.message
    laptop.store._conn.execute("PRAGMA query_only=OFF")
    assert state(laptop) == before
