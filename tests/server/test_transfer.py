"""``storage.transfer``: a whole store copied into another, row for row, in one transaction of
the target; a target holding data refused unless told to empty it. (SQLite to SQLite here; the
move to PostgreSQL end to end is ``tests/e2e/test_migrate.py``.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from server.storage import Store, audit, open_database, transfer
from tests.support.databases import open_store


@pytest.fixture
def opened(tmp_path: Path, fresh_database: str | None) -> Any:
    """A new, empty store on the test's backend (one per test: PostgreSQL gives one database)."""
    made: list[Store] = []

    def make() -> Store:
        db = open_database(fresh_database or f"sqlite:///{tmp_path / 'copy.db'}")
        db.migrate()
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


def everything(db: Store) -> dict[str, list[tuple[Any, ...]]]:
    def read(tx: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table: sorted(tuple(r) for r in tx.execute(f'SELECT * FROM "{table}"'))
            for table in transfer.tables(tx)
            if table != "meta"
        } | {"meta": sorted(tuple(r) for r in tx.execute("SELECT * FROM meta WHERE key <> 'schema_version'"))}

    return db.read(read)


@pytest.fixture
def source(server_data: Path) -> Any:
    db = open_store(server_data)

    def some_audit(tx: Any) -> None:
        for record_id in ("J-0001", "J-0002"):
            audit.append_record(
                tx, dt.datetime.now(dt.timezone.utc), audit.Actor("u-admin", "cli"), "test", "job", record_id
            )

    db.write(some_audit)
    yield db
    db.close()


def test_a_copy_holds_every_row_and_its_chain_verifies(source: Store, opened: Any) -> None:
    target = opened()
    copied = transfer.copy_store(source, target)
    assert copied["records"] > 200 and copied["audit_log"] == 2 and copied["users"] >= 6
    assert everything(target) == everything(source)
    assert target.read(audit.verify).ok


def test_a_target_holding_data_is_refused_unless_replaced(source: Store, opened: Any) -> None:
    target = opened()
    transfer.copy_store(source, target)
    before = everything(target)
    with pytest.raises(transfer.CopyRefused, match=r"already holds data: .*audit_log \(2\).*--replace"):
        transfer.copy_store(source, target)
    assert everything(target) == before

    source.write(
        lambda tx: audit.append_record(
            tx, dt.datetime.now(dt.timezone.utc), audit.Actor("u-admin", "cli"), "test", "job", "J-0003"
        )
    )
    transfer.copy_store(source, target, replace=True)  # the audit log emptied, then filled again
    assert everything(target) == everything(source) and target.read(audit.verify).ok
    with pytest.raises(Exception, match="append-only"):  # its guards are back
        target.write(lambda tx: tx.execute("DELETE FROM audit_log"))


def test_a_copy_that_fails_half_way_leaves_the_target_as_it_was(
    source: Store, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = opened()
    real = transfer.copy_table

    def fail_at_records(src: Any, dst: Any, table: str, columns: list[str]) -> int:
        if table == "records":
            raise RuntimeError("disk full")
        return real(src, dst, table, columns)

    monkeypatch.setattr(transfer, "copy_table", fail_at_records)
    empty = everything(target)
    with pytest.raises(RuntimeError, match="disk full"):
        transfer.copy_store(source, target)
    assert everything(target) == empty


def test_stores_of_different_shapes_are_refused(source: Store, opened: Any) -> None:
    target = opened()
    target.exclusive(lambda tx: tx.execute("CREATE TABLE extra (x TEXT)"))
    with pytest.raises(transfer.CopyRefused, match="only the target has extra"):
        transfer.copy_store(source, target)
