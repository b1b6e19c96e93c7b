"""The store-wide version sequence: every change a new, higher version, across transactions,
failures and processes; never one version for two changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.storage import records as store
from server.storage.sqlite import Database, connect
from server.storage.schema import migrate
from sync_protocol import Part


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "store.db")
    database.exclusive(migrate)
    yield database
    database.close()


def _put(conn, sku: str) -> int:  # type: ignore[no-untyped-def]
    return store.put(conn, Part(id=sku, name=sku))


def test_versions_keep_rising_across_transactions_and_are_committed_with_them(db: Database) -> None:
    first = db.write(lambda c: [_put(c, "A"), _put(c, "B"), store.current_version(c)])
    assert first[0] < first[1] == first[2]
    assert db.read(store.current_version) == first[2]  # written back at commit
    second = db.write(lambda c: _put(c, "C"))
    assert second == first[2] + 1


def test_a_failed_transaction_leaves_the_sequence_where_it_was(db: Database) -> None:
    before = db.write(lambda c: _put(c, "A"))

    def fail(conn):  # type: ignore[no-untyped-def]
        _put(conn, "B")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        db.write(fail)
    assert db.read(store.current_version) == before
    assert db.write(lambda c: _put(c, "C")) == before + 1


def test_a_rolled_back_savepoint_skips_its_versions_and_never_reuses_them(db: Database) -> None:
    def work(conn):  # type: ignore[no-untyped-def]
        conn.execute("SAVEPOINT one")
        lost = _put(conn, "A")
        conn.execute("ROLLBACK TO one")
        conn.execute("RELEASE one")
        return lost, _put(conn, "B")

    lost, kept = db.write(work)
    assert kept > lost
    assert db.read(lambda c: c.execute("SELECT version FROM records WHERE id='B'").fetchone()[0]) == kept


def test_another_process_writing_between_transactions_is_seen(db: Database, tmp_path: Path) -> None:
    mine = db.write(lambda c: _put(c, "A"))
    other = connect(tmp_path / "store.db")  # e.g. `field-server job run`
    other.execute("BEGIN IMMEDIATE")
    theirs = _put(other, "B")
    other.execute("COMMIT")
    other.close()
    assert theirs == mine + 1
    assert db.write(lambda c: _put(c, "C")) == theirs + 1
