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
