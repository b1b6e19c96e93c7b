"""The benchmark harness runs end to end at a tiny size and emits every figure.

No timing is asserted here (timings live in docs/performance.md, from ``make bench``); this only
keeps ``bench/`` working as the server and the field client change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
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


def bench(
    tmp_path: Path, module: str, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m bench.run`` (or ``bench.compare``) at 200 records, one run per figure, writing
    into ``tmp_path``, with ``env`` added to this environment."""
    environ = {**os.environ, "BENCH_N": "200", "BENCH_RUNS": "1", "BENCH_OUT": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout
    )


def test_bench_runs_and_emits_every_key(tmp_path: Path) -> None:
    proc = bench(tmp_path, "bench.run", timeout=180)
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

    prefix = f"fieldsync_bench_{uuid.uuid4().hex[:6]}_"

    def leftovers() -> int:
        with psycopg.connect(PG_URL) as conn:
            row = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (prefix + "%",)).fetchone()
            return int(row[0]) if row else 0

    proc = bench(tmp_path, "bench.run", "--only", "push,pull,concurrency", BENCH_DB=PG_URL, BENCH_DB_PREFIX=prefix)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["backend"] == "postgresql"
    for key in ("push_per_s", "pull_per_s", "concurrency_p99_s", "concurrency2_p99_s", "concurrency2_events_per_s"):
        assert line.get(key) is not None, f"{key} missing from {sorted(line)}"
    assert line["concurrency_errors"] == 0 and line["concurrency2_errors"] == 0
    assert "two server processes" in proc.stdout
    assert leftovers() == 0


def test_make_bench_keeps_both_backends_and_the_peer_in_one_latest_json(tmp_path: Path) -> None:
    """``make bench`` (``bench.compare``): SQLite's figures at the top level of ``latest.json``,
    PostgreSQL's under ``"postgresql"`` with the same keys, and the peer's of ``make bench-peer``
    under ``"peer"``, so one file holds the whole comparison."""
    from tests.support.databases import PG_URL

    peer_line = {
        "n": 200,
        "runs": [
            {
                "server_backend": "leveldb",
                "push": {"docs": 200, "docs_per_s": 3400.0, "http_requests": 4, "bytes_up": 24000},
                "pull": {"docs": 200, "docs_per_s": 3769.0, "http_requests": 3},
                "incremental_pull": {"ms": 31.3},
                "incremental_push": {"ms": 39.0},
                "noop_sync": {"median_ms": 10.2},
            }
        ],
    }
    (tmp_path / "peer-latest.json").write_text(json.dumps(peer_line) + "\n")
    proc = bench(tmp_path, "bench.compare", "--only", "floor,push", BENCH_DB=PG_URL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = json.loads((tmp_path / "latest.json").read_text())
    assert line["backend"] == "sqlite" and line["postgresql"]["backend"] == "postgresql"
    for key in ("push_per_s", "floor_push_per_s"):
        assert line[key] is not None and line["postgresql"][key] is not None, key
    assert set(KEYS) <= set(line) and set(KEYS) <= set(line["postgresql"])
    assert line["peer"]["leveldb"]["push_per_s"] == 3400.0
    assert "| push " in proc.stdout and "PostgreSQL / SQLite" in proc.stdout


def test_an_unknown_figure_is_refused_by_name_and_the_last_comparison_stands(tmp_path: Path) -> None:
    """``make bench BENCH_ONLY=...`` with a misspelt figure says which, lists the known ones and
    leaves ``latest.json`` as the last complete run wrote it (it printed a traceback, or the
    previous run's figures as this one's)."""
    (tmp_path / "latest.json").write_text('{"push_per_s": 1}\n')
    for module in ("bench.run", "bench.compare"):
        proc = bench(tmp_path, module, "--only", "push,pulll", timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "unknown figures: pulll (known: floor, push, pull," in proc.stderr
    assert (tmp_path / "latest.json").read_text() == '{"push_per_s": 1}\n'
