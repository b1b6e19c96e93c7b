"""Migrations: a store made by an older server keeps working after an upgrade."""

from __future__ import annotations

from pathlib import Path

from server.storage import records as store
from server.storage.sqlite import connect
from server.storage.schema import MIGRATIONS, SCHEMA_VERSION, migrate

from tests.support.seed import seed_records


def _store_at(path: Path, version: int):  # type: ignore[no-untyped-def]
    conn = connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in MIGRATIONS[:version]:
        step(conn)
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(version),))
    return conn


def test_held_records_learn_their_parent_and_every_device_diffs_in_full_once(tmp_path: Path) -> None:
    conn = _store_at(tmp_path / "old.db", 3)
    store.put_many(conn, seed_records())
    conn.execute(
        "INSERT INTO users(id, name, display_name, role, created_at, active) "
        "VALUES ('u-li-wei', 'li-wei', 'Li Wei', 'engineer', '2026-01-01', 1)"
    )
    conn.execute(
        "INSERT INTO devices(id, user_id, token_hash, high_seq, cursor_n, diff_version, pending_diff) "
        "VALUES ('d-1', 'u-li-wei', 'h', 0, 3, 40, 41)"
    )
    conn.executemany(
        "INSERT INTO device_scope(device_id, entity, id) VALUES ('d-1', ?, ?)",
        [("job", "J-1"), ("site", "S-01"), ("part", "PSU-750W")],
    )

    assert migrate(conn) == 3
    assert SCHEMA_VERSION >= 4
    held = dict(((e, i), p) for e, i, p in conn.execute("SELECT entity, id, parent FROM device_scope"))
    assert held == {("job", "J-1"): "S-01", ("site", "S-01"): "C-01", ("part", "PSU-750W"): None}
    assert tuple(conn.execute("SELECT diff_version, pending_diff FROM devices").fetchone()) == (None, None)
