"""The benchmark harness runs end to end at a tiny size and emits every figure.

No timing is asserted here (timings live in docs/performance.md, from ``make bench``); this only
keeps ``bench/`` working as the server and the field client change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "push_per_s",
    "pull_per_s",
    "incremental_pull_ms",
    "incremental_push_ms",
    "noop_sync_ms",
    "requests_per_1000",
    "bytes_up_per_swap",
    "priming_s",
    "concurrency_errors",
    "concurrency_p99_s",
    "floor_push_per_s",
    "app_today_paint_ms",
    "app_job_paint_ms",
)


def test_bench_runs_and_emits_every_key(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_N": "200", "BENCH_RUNS": "1", "BENCH_OUT": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads((tmp_path / "latest.json").read_text()) == line
    for key in KEYS:
        assert line.get(key) is not None, f"{key} missing from {sorted(line)}"
    assert line["concurrency_errors"] == 0
    assert line["synchronous"] in ("NORMAL", "FULL")
    assert "| push " in proc.stdout  # the table
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())  # stores cleaned up


def test_bench_on_postgresql_adds_two_server_processes_and_drops_its_databases(tmp_path: Path) -> None:
    """``make bench BENCH_DB=postgresql://...``: the same figures on PostgreSQL (a database per
    store), the concurrency figure on two processes too, and no database left behind."""
    import psycopg

    from tests.support.databases import PG_URL

    def leftovers() -> int:
        with psycopg.connect(PG_URL) as conn:
            row = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'fieldsync_bench_%'").fetchone()
            return int(row[0]) if row else 0

    before = leftovers()
    env = {**os.environ, "BENCH_N": "200", "BENCH_RUNS": "1", "BENCH_OUT": str(tmp_path), "BENCH_DB": PG_URL}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--only", "push,pull,concurrency"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["backend"] == "postgresql"
    for key in ("push_per_s", "pull_per_s", "concurrency_p99_s", "concurrency2_p99_s", "concurrency2_events_per_s"):
        assert line.get(key) is not None, f"{key} missing from {sorted(line)}"
    assert line["concurrency_errors"] == 0 and line["concurrency2_errors"] == 0
    assert "two server processes" in proc.stdout
    assert leftovers() == before
