"""``field-server backup DEST``: a consistent copy of a SQLite deployment, taken while a laptop
pushes to the running server, that a server serves as it was at the moment of the copy."""

from __future__ import annotations

import threading
from pathlib import Path

from field_client import FieldClient
from sync_protocol import Note

from tests.support.live import LiveServer, cli_json, read_only, run_cli, wait_until


def high_seq(path: Path, device: str) -> int:
    with read_only(path) as conn:
        row = conn.execute("SELECT high_seq FROM devices WHERE id=?", (device,)).fetchone()
        return int(row[0]) if row else 0


def test_backup_while_a_laptop_pushes_is_consistent_and_serves(live_server: LiveServer, tmp_path: Path) -> None:
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

    # Restore: serve the copy; the laptop is ahead of it (its later pushes are not in the copy)
    # and a new laptop pulls exactly what the copy holds.
    with LiveServer(dest) as restored:
        with FieldClient(tmp_path / "zhang-min") as other:
            other.login(restored.url, restored.enrollment("zhang-min"))
            assert other.sync().ok
    refused = run_cli("field-server", "backup", str(dest), "--data", str(live_server.data_dir), check=False)
    assert refused.returncode == 1 and "not empty" in refused.stderr
