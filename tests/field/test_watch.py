"""``field sync --watch``: quiet while the server is down, drains at once when it is back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from field_client import FieldClient
from field_client.watch import Watcher
from sync_protocol import Note
from tests.e2e.conftest import ROOT, read_only

INTERVAL, MAX_BACKOFF = 0.3, 1.2


def pending(home: Path) -> int:
    with read_only(home / "field.db") as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def test_backoff_doubles_up_to_its_cap_and_resets_after_a_sync() -> None:
    watcher = Watcher(lambda: None, interval=2, max_backoff=10)  # type: ignore[arg-type,return-value]
    delays = []
    for _ in range(6):
        watcher.failures += 1
        delays.append(watcher.delay())
    assert delays == [2, 4, 8, 10, 10, 10]
    watcher.failures = 0
    assert watcher.delay() == 2


def test_watch_waits_out_a_down_server_and_drains_the_outbox_when_it_returns(live_server, tmp_path) -> None:
    home = tmp_path / "laptop"
    with FieldClient(home) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
        li.sync()
        for n in range(5):
            li.record_event("J-0001", Note(text=f"written in the basement {n}"))
    live_server.stop()

    proc = subprocess.Popen([sys.executable, "-m", "field_client.cli", "--home", str(home), "--json", "sync",
                             "--watch", "--interval", str(INTERVAL), "--max-backoff", str(MAX_BACKOFF)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4.0)                                 # down: attempts at 0, 0.3, 0.9, 2.1, 3.3 s
        live_server.start()
        back = time.monotonic()
        while pending(home) and time.monotonic() - back < 10:
            time.sleep(0.05)
        drained_after = time.monotonic() - back
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)

    attempts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    failed = [a for a in attempts if not a["ok"]]
    assert proc.returncode == 0, err
    assert pending(home) == 0
    assert drained_after <= 2 * MAX_BACKOFF + 1.0, f"drained {drained_after:.1f} s after the server came back"
    assert 3 <= len(failed) <= 7, f"{len(failed)} attempts while down: {failed}"  # no busy loop
    assert [a["next_in"] for a in failed[:4]] == [0.3, 0.6, 1.2, 1.2]
    assert any(a["ok"] and a["pushed"] == 5 for a in attempts)
