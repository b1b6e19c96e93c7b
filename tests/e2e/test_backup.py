"""``field-server backup DEST``: a consistent copy of a SQLite deployment, taken while a laptop
pushes to the running server, that a server serves as it was at the moment of the copy; what a
laptop that pushed after the backup meets when the backup is restored (docs/operations.md,
"Restore"). On PostgreSQL the command refuses and names the database's own tools."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from field_client import FieldClient
from field_client.errors import OutOfStep
from sync_protocol import Note

from tests.support.live import LiveServer, cli_json, read_only, run_cli, wait_until


def high_seq(path: Path, device: str) -> int:
    with read_only(path) as conn:
        row = conn.execute("SELECT high_seq FROM devices WHERE id=?", (device,)).fetchone()
        return int(row[0]) if row else 0


@pytest.mark.backends("postgresql")
def test_backup_of_postgresql_is_left_to_its_own_tools(live_server: LiveServer, tmp_path: Path) -> None:
    """PostgreSQL only: ``field-server backup`` copies a SQLite file, and on PostgreSQL it refuses
    and names ``pg_dump`` (the SQLite backup is the test below)."""
    refused = run_cli("field-server", "backup", str(tmp_path / "b"), "--data", str(live_server.data_dir), check=False)
    assert refused.returncode == 1 and "pg_dump" in refused.stderr, refused.stderr


@pytest.mark.backends("sqlite")
def test_backup_while_a_laptop_pushes_is_consistent_and_serves(live_server: LiveServer, tmp_path: Path) -> None:
    """SQLite only: ``field-server backup`` is the online copy of the SQLite file (checked with
    ``PRAGMA integrity_check`` and restored by serving the copied file); PostgreSQL is backed up
    with its own tools (the test above)."""
    home = tmp_path / "li-wei"
    with FieldClient(home) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
        li.sync()
        device = str(li.status()["device_id"])
    store = live_server.data_dir / "fieldsync.db"
    stop = threading.Event()
    failures: list[BaseException] = []

    def keep_pushing() -> None:
        try:
            with FieldClient(home) as laptop:
                n = 0
                while not stop.is_set():
                    for _ in range(3):
                        laptop.record_event("J-0001", Note(text=f"note {n}"))
                        n += 1
                    assert laptop.sync().ok
        except BaseException as exc:  # the test fails with it below
            failures.append(exc)

    writer = threading.Thread(target=keep_pushing)
    writer.start()
    try:
        assert wait_until(lambda: high_seq(store, device) >= 9, timeout=60), "the laptop never pushed"
        dest = tmp_path / "backup"
        report = cli_json("field-server", "backup", str(dest), "--data", str(live_server.data_dir))
        copied = high_seq(dest / "fieldsync.db", device)
        # the server went on taking pushes after the copy: the copy was taken under load
        assert wait_until(lambda: high_seq(store, device) > copied + 6, timeout=60)
    finally:
        stop.set()
        writer.join(timeout=120)
    assert not failures, failures
    assert report["blobs"]["missing"] == 0 and report["blobs"]["copied"] >= 1, report

    with read_only(dest / "fieldsync.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # one snapshot: the high-water mark and the effects of each push are in it together
        answers = conn.execute("SELECT count(*) FROM applied WHERE device_id=?", (device,)).fetchone()[0]
        notes = conn.execute(
            "SELECT count(*) FROM records WHERE entity='event' AND json_extract(data, '$.payload.text') LIKE 'note %'"
        ).fetchone()[0]
        version = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
        newest = conn.execute("SELECT max(version) FROM records").fetchone()[0]
    assert answers == copied == notes and newest == version, (answers, copied, notes, newest, version)
    assert cli_json("field-server", "audit", "verify", "--data", str(dest))["ok"] is True

    refused = run_cli("field-server", "backup", str(dest), "--data", str(live_server.data_dir), check=False)
    assert refused.returncode == 1 and "not empty" in refused.stderr

    # Restore: the copy is served at the old address. A new laptop pulls what the copy holds.
    # Li Wei's laptop pushed after the backup, so it is ahead of the restored server: its push
    # is refused (seq_gap) until it enrolls again; then its pending work arrives, renumbered.
    live_server.stop()
    with LiveServer(dest, port=live_server.port) as restored:
        with FieldClient(tmp_path / "zhang-min") as other:
            other.login(restored.url, restored.enrollment("zhang-min"))
            assert other.sync().ok
        with FieldClient(home, retries=1, backoff=0.01) as li:
            pending = li.record_event("J-0001", Note(text="recorded after the restore")).id
            with pytest.raises(OutOfStep, match="server's store is older than this laptop's"):
                li.sync()
            li.login(restored.url, restored.enrollment("li-wei"))
            again = li.sync()
            assert again.ok and again.applied == 1 and li.pending() == [], again
        with read_only(dest / "fieldsync.db") as conn:
            assert conn.execute("SELECT count(*) FROM records WHERE id=?", (pending,)).fetchone()[0] == 1
