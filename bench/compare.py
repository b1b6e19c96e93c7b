"""``python -m bench.compare`` (``make bench-both BENCH_DB=postgresql://...``): the figures on
SQLite, then on PostgreSQL, in one run on one machine, side by side.

Each backend runs ``bench.run`` as its own process, one after the other, with the same
``BENCH_N``/``BENCH_RUNS``; the table gives both columns and PostgreSQL's figure as a ratio of
SQLite's. On a shared machine absolute figures move with the neighbours' load (the load average
at the end of each half is printed); the ratios, taken minutes apart, are the figures to read.
Writes ``<BENCH_OUT>/compare.json`` (both result lines) and prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import ROOT, Settings, say
from .run import TARGETS, fmt

HIGHER_IS_BETTER = {"push_per_s", "pull_per_s", "floor_push_per_s"}
EXTRA = {  # key: (unit, what): figures of the concurrency runs beyond the main table
    "concurrency_events_per_s": ("events/s", "concurrency throughput, 1 process"),
    "concurrency2_events_per_s": ("events/s", "concurrency throughput, 2 processes"),
    "concurrency2_p99_s": ("s", "concurrency p99, 2 processes"),
    "concurrency2_errors": ("", "concurrency errors, 2 processes"),
}


def _half(backend: str, url: str, out: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_DB": url if backend == "postgresql" else ""}
    say(f"compare: {backend} run")
    subprocess.run([sys.executable, "-m", "bench.run"], cwd=ROOT, env=env, check=False)
    return json.loads((out / "latest.json").read_text())  # type: ignore[no-any-return]


def _ratio(key: str, sqlite: Any, pg: Any) -> str:
    if not isinstance(sqlite, (int, float)) or not isinstance(pg, (int, float)) or not sqlite:
        return ""
    value = pg / sqlite
    better = value >= 1 if key in HIGHER_IS_BETTER or key.endswith("per_s") else value <= 1
    return f"{value:.2f}x" + (" (better)" if better and abs(value - 1) > 0.05 else "")


def table(sqlite: dict[str, Any], pg: dict[str, Any]) -> str:
    rows = [("figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite")]
    figures = {key: (unit, what) for key, (_, _, unit, what) in TARGETS.items()} | EXTRA
    for key, (unit, what) in figures.items():
        if key in sqlite or key in pg:
            rows.append(
                (what, fmt(sqlite.get(key), unit), fmt(pg.get(key), unit), _ratio(key, sqlite.get(key), pg.get(key)))
            )
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.append("")
    lines.append(
        f"load average at the end: SQLite half {sqlite.get('loadavg_at_end')}, "
        f"PostgreSQL half {pg.get('loadavg_at_end')}"
    )
    return "\n".join(lines)


def main() -> int:
    url = os.environ.get("BENCH_DB") or ""
    if not url.startswith(("postgresql://", "postgres://")):
        print("bench.compare needs BENCH_DB=postgresql://USER@HOST/DB", file=sys.stderr)
        return 2
    out = Settings.from_env().out
    sqlite = _half("sqlite", url, out / "sqlite")
    pg = _half("postgresql", url, out / "postgresql")
    (out / "compare.json").write_text(json.dumps({"sqlite": sqlite, "postgresql": pg}) + "\n")
    print(table(sqlite, pg))
    return 1 if sqlite.get("failed") or pg.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
