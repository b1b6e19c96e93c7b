"""``python -m bench.compare`` (``make bench``): the figures on SQLite, then on PostgreSQL, in
one run on one machine, side by side.

Each backend runs ``bench.run`` as its own process, one after the other, with the same
``BENCH_N``/``BENCH_RUNS``; the table gives both columns and PostgreSQL's figure as a ratio of
SQLite's. PostgreSQL is ``BENCH_DB`` when it names one, else the test server at
``FIELDSYNC_TEST_PG`` when it answers (``BENCH_DB=sqlite``: SQLite alone). On a shared machine
absolute figures move with the neighbours' load (the load average at the end of each half is
printed); the ratios, taken minutes apart, are the figures to read.

Writes ``<BENCH_OUT>/latest.json``: SQLite's figures at the top level, PostgreSQL's under
``"postgresql"``, and the peer's under ``"peer"`` where ``make bench-peer`` ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import ROOT, Settings, say
from . import peer
from .run import TARGETS, figures_named, fmt

HIGHER_IS_BETTER = {"push_per_s", "pull_per_s", "floor_push_per_s"}
EXTRA = {  # key: (unit, what): figures of the concurrency runs beyond the main table
    "concurrency_events_per_s": ("events/s", "concurrency throughput, 1 process"),
    "concurrency2_events_per_s": ("events/s", "concurrency throughput, 2 processes"),
    "concurrency2_p99_s": ("s", "concurrency p99, 2 processes"),
    "concurrency2_errors": ("", "concurrency errors, 2 processes"),
}


def _half(backend: str, url: str, out: Path, extra: list[str]) -> dict[str, Any] | None:
    """This backend's figures from its own ``bench.run``, or None when the run wrote none: an
    earlier run's file is removed first, so that it is never read as this run's."""
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_DB": url}
    say(f"bench: the {backend} half")
    (out / "latest.json").unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "bench.run", *extra], cwd=ROOT, env=env, check=False)
    if not (out / "latest.json").exists():
        say(f"bench: the {backend} half wrote no figures (bench.run exited {run.returncode})")
        return None
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
        if sqlite.get(key) is not None or pg.get(key) is not None:
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


def pg_url() -> str | None:
    """The PostgreSQL the second half runs on: ``BENCH_DB`` when it names one, else the test
    server at ``FIELDSYNC_TEST_PG`` when it answers; ``BENCH_DB=sqlite`` runs SQLite alone."""
    named = os.environ.get("BENCH_DB") or ""
    if named.startswith(("postgresql://", "postgres://")):
        return named
    if named == "sqlite":
        return None
    candidate = os.environ.get("FIELDSYNC_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/postgres"
    import psycopg

    try:
        with psycopg.connect(candidate, connect_timeout=3):
            return candidate
    except psycopg.OperationalError:
        say(f"no PostgreSQL answers at {candidate}: SQLite alone")
        return None


def combined(sqlite: dict[str, Any], pg: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """``latest.json``: SQLite's figures at the top level, PostgreSQL's under ``"postgresql"``
    with the same keys, the peer's under ``"peer"`` where ``make bench-peer`` ran."""
    line = dict(sqlite)
    if pg is not None:
        line["postgresql"] = pg
    theirs = peer.figures(out)
    if theirs is not None:
        line["peer"] = theirs
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--only", help="figures to run, passed to bench.run")
    args = parser.parse_args(argv)
    try:
        figures_named(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    extra = ["--only", args.only] if args.only else []
    out = Settings.from_env().out
    url = pg_url()
    sqlite = _half("sqlite", "", out / "sqlite", extra)
    pg = _half("postgresql", url, out / "postgresql", extra) if url else None
    if sqlite is None or (url and pg is None):
        return 1  # latest.json keeps the last complete comparison
    line = combined(sqlite, pg, out)
    (out / "latest.json").write_text(json.dumps(line, separators=(",", ":")) + "\n")
    if pg is not None:
        print(table(sqlite, pg))
    say(f"written to {out / 'latest.json'}")
    return 1 if sqlite.get("failed") or (pg or {}).get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
