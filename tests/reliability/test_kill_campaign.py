"""Kill campaign: the server and the laptops are killed (SIGKILL) at random points while they
sync; after restarts nothing is lost, nothing is duplicated, every SQLite store is intact and
the server's audit chain verifies end to end.

Twenty kills in ``make test``; ``FIELDSYNC_KILLS=200 make soak`` runs the long campaign.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from field_client import FieldClient
from sync_protocol import Note

from tests.e2e.conftest import ROOT, LiveServer, cli_json, read_only

KILLS = int(os.environ.get("FIELDSYNC_KILLS", "20"))
LAPTOPS = {"li-wei": "J-0001", "zhang-min": "J-0004"}
pytestmark = pytest.mark.slow


def integrity(path: Path) -> str:
    with read_only(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_killing_server_and_laptops_mid_sync_loses_and_doubles_nothing(live_server: LiveServer, tmp_path) -> None:
    rng = random.Random(KILLS)
    homes = {name: tmp_path / name for name in LAPTOPS}
    recorded: set[str] = set()
    for name, home in homes.items():
        with FieldClient(home) as laptop:
            laptop.login(live_server.url, live_server.enrollment(name))
            laptop.sync()

    kills = {"server": 0, "laptop": 0}
    round_ = 0
    while sum(kills.values()) < KILLS:              # up to two kills a round: a laptop, then the server
        round_ += 1
        assert round_ <= KILLS, kills
        for name, home in homes.items():
            with FieldClient(home) as laptop:
                for n in range(15):
                    recorded.add(laptop.record_event(LAPTOPS[name], Note(text=f"{name} {round_}/{n}")).id)
        procs = {name: subprocess.Popen([sys.executable, "-m", "field_client.cli", "--home", str(home), "sync",
                                         "--page-size", "10"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL) for name, home in homes.items()}
        time.sleep(rng.uniform(0.2, 0.8))
        victim = rng.choice(sorted(procs))
        if procs[victim].poll() is None:
            procs[victim].kill()
            kills["laptop"] += 1
        time.sleep(rng.uniform(0.0, 0.3))
        live_server.kill()
        kills["server"] += 1
        live_server.start()                          # the other laptop's retries meet the new server
        for proc in procs.values():
            proc.wait(timeout=60)

    for name, home in homes.items():
        with FieldClient(home) as laptop:
            report = laptop.sync()
            assert report.ok and laptop.pending() == [], (name, report.problems)
            assert {a["status"] for a in laptop.answers()} <= {"applied", "merged", "conflict"}

    assert sum(kills.values()) >= KILLS and kills["laptop"] >= KILLS // 4, kills
    events = live_server.records("event")
    notes = [i for i, e in events.items() if e["payload"]["kind"] == "note"]
    assert len(notes) == len(recorded) and set(notes) == recorded
    live_server.stop()
    assert integrity(live_server.data_dir / "fieldsync.db") == "ok"
    chain = cli_json("field-server", "audit", "verify", "--data", str(live_server.data_dir))
    assert chain["ok"] is True and chain["rows"] >= len(recorded), chain
    for home in homes.values():
        assert integrity(home / "field.db") == "ok"
