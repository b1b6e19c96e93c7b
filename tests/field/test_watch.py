"""``field sync --watch``: quiet while the server is down, drains at once when it is back."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

from field_client import FieldClient
from field_client.watch import Watcher
from sync_protocol import Note
from tests.support.live import ROOT, read_only, wait_until

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

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "field_client.cli",
            "--home",
            str(home),
            "--json",
            "sync",
            "--watch",
            "--interval",
            str(INTERVAL),
            "--max-backoff",
            str(MAX_BACKOFF),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    attempts: list[dict] = []
    reader = threading.Thread(
        target=lambda: attempts.extend(json.loads(line) for line in proc.stdout if line.startswith("{")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        # Down for four attempts (their own pace, however fast or slow this machine is), then back.
        assert wait_until(lambda: sum(not a["ok"] for a in attempts) >= 4, 60), attempts
        live_server.start()
        back = dt.datetime.now(dt.timezone.utc)
        assert wait_until(lambda: pending(home) == 0 and any(a["ok"] for a in attempts), 60), attempts
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        reader.join(5)

    assert proc.returncode == 0, err
    failed = [a for a in attempts if not a["ok"]]
    # Backoff doubles up to its cap, and no attempt comes before its time: no busy loop.
    assert [a["next_in"] for a in failed[:4]] == [0.3, 0.6, 1.2, 1.2]
    assert all(a["next_in"] == MAX_BACKOFF for a in failed[3:])
    for earlier, later in zip(failed, failed[1:], strict=False):
        assert at(later) - at(earlier) >= dt.timedelta(seconds=earlier["next_in"] - 0.01), (earlier, later)
    # Once the server answers, the next attempt gets through and drains the outbox.
    assert all(a["ok"] for a in attempts if at(a) > back), attempts
    assert any(a["ok"] and a["pushed"] == 5 for a in attempts)


def at(attempt: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(attempt["at"])
