"""``python -m bench.run``: every figure on one backend, a table, and one JSON line (``make bench``
runs it on SQLite, then on PostgreSQL: bench/compare.py).

    BENCH_N=100000      records for push, pull and the floor (priming, concurrency scale with it)
    BENCH_PUSH_N=...    part swaps for push and floor only (default BENCH_N)
    BENCH_RUNS=3        repetitions per figure; the median is reported
    BENCH_DURABLE=1     run the server with synchronous=FULL (default: WAL + NORMAL)
    BENCH_CONCURRENCY=100, BENCH_DEVICES=2000, BENCH_CONC_PROCS=4, BENCH_CONC_TIMEOUT=600
    BENCH_PULL_IN_PUSH=0  the concurrency laptops pull apart after the push (for paired runs)
    BENCH_OUT=DIR       where latest.json goes (default var/bench/), BENCH_KEEP=1 keeps stores
    BENCH_DB=postgresql://...  the server on PostgreSQL, a database per store named BENCH_DB_PREFIX...
    python -m bench.run --only push,floor   run some figures only (``app`` needs ``pull``)

The JSON line is printed last on stdout and written to ``<BENCH_OUT>/latest.json``. Progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from typing import Any

from . import concurrency, database, field_ui, floor, incremental, priming, pull, push, wire
from .common import Settings, machine, say
from .push import world_spec

FIGURES = ("floor", "push", "pull", "incremental", "app", "priming", "concurrency")

TARGETS = {  # key: (op, target, unit, what); the targets of issue 12
    "push_per_s": (">=", 30_000, "mutations/s", "push"),
    "pull_per_s": (">=", 60_000, "records/s", "initial pull"),
    "incremental_pull_ms": ("<=", 3, "ms", "incremental pull (100 records)"),
    "incremental_push_ms": ("<=", 10, "ms", "incremental push (100 events)"),
    "noop_sync_ms": ("<=", 1, "ms", "no-op sync (median)"),
    "requests_per_1000": ("<=", 1, "requests", "requests per 1,000 records (worse of push/pull)"),
    "bytes_up_per_swap": ("<=", 200, "bytes", "bytes up per part swap"),
    "pull_bytes_down_per_record": ("<=", 150, "bytes", "bytes down per record, initial pull"),
    "priming_s": ("<=", 3, "s", "priming a real scope"),
    "concurrency_errors": ("<=", 0, "", "concurrency errors"),
    "concurrency_p99_s": ("<=", 2, "s", "concurrency p99 sync time"),
    "app_today_paint_ms": ("<=", 300, "ms", "field ui: first paint of Today"),
    "app_job_paint_ms": ("<=", 300, "ms", "field ui: first paint of a job sheet"),
    "floor_push_per_s": (None, None, "records/s", "floor (decode + one executemany)"),
}
JSON_KEYS = (
    "push_per_s",
    "pull_per_s",
    "incremental_pull_ms",
    "incremental_push_ms",
    "noop_sync_ms",
    "requests_per_1000",
    "bytes_up_per_swap",
    "pull_bytes_down_per_record",
    "priming_s",
    "concurrency_errors",
    "concurrency_p99_s",
    "floor_push_per_s",
    "app_today_paint_ms",
    "app_job_paint_ms",
)


def met(key: str, value: Any) -> str:
    op, target, _, _ = TARGETS[key]
    if op is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "MISSED"


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def ratios(r: dict[str, Any]) -> dict[str, str]:
    """Each time figure against its same-run baseline."""
    out: dict[str, str] = {}
    floor_rate = r.get("floor_push_per_s")
    if floor_rate and r.get("push_per_s"):
        out["push_per_s"] = f"{r['push_per_s'] / floor_rate:.1%} of floor ({floor_rate / r['push_per_s']:.1f}x slower)"
    if floor_rate and r.get("pull_per_s"):
        out["pull_per_s"] = f"{r['pull_per_s'] / floor_rate:.1%} of floor ({floor_rate / r['pull_per_s']:.1f}x slower)"
    if r.get("pull_speedup") and r.get("pull_baseline_per_s"):
        out["pull_per_s"] = (
            out.get("pull_per_s", "") + f"; {r['pull_speedup']:.2f}x the pull without prefetch and gzip "
            f"({r['pull_baseline_per_s']:,.0f}/s)"
        ).lstrip("; ")
    rtt = r.get("rtt_ms")
    for key in ("incremental_pull_ms", "incremental_push_ms", "noop_sync_ms"):
        if rtt and r.get(key):
            out[key] = f"{r[key] / rtt:.1f}x a bare HTTP round trip ({rtt:.2f} ms)"
    for way, said in (("hello", "with hello"), ("apart", "the pull apart")):
        before, now = r.get(f"incremental_push_{way}_ms"), r.get("incremental_push_ms")
        if before and now:
            out["incremental_push_ms"] = (
                out.get("incremental_push_ms", "") + f"; {before / now:.2f}x faster than {said} "
                f"({before:.1f} ms, {r.get(f'incremental_push_{way}_requests')} requests)"
            ).lstrip("; ")
    if r.get("pull_baseline_bytes_down_per_record"):
        out["pull_bytes_down_per_record"] = (
            f"gzip pages; {r['pull_baseline_bytes_down_per_record']:.0f} B/record uncompressed (same run)"
        )
    if r.get("priming_baseline_s") and r.get("priming_s"):
        out["priming_s"] = (
            f"{r['priming_s'] / r['priming_baseline_s']:.1f}x plain GETs of the drawings "
            f"({r['priming_baseline_s']:.2f} s)"
        )
    if r.get("concurrency_baseline_s") and r.get("concurrency_p99_s"):
        out["concurrency_p99_s"] = (
            f"{r['concurrency_p99_s'] / r['concurrency_baseline_s']:.1f}x one device alone "
            f"({r['concurrency_baseline_s'] * 1000:.0f} ms)"
        )
    if r.get("push_requests_per_1000") is not None:
        out["requests_per_1000"] = (
            f"push {r['push_requests_per_1000']:.2f}, pull {r.get('pull_requests_per_1000', float('nan')):.2f}"
        )
    if r.get("bytes_up_per_swap"):
        out["bytes_up_per_swap"] = "push bodies gzip-compressed"

    for key in ("app_today_paint_ms", "app_job_paint_ms"):
        if r.get("app_baseline_paint_ms") and r.get(key):
            out[key] = (
                f"{r[key] / r['app_baseline_paint_ms']:.1f}x the app's lightest page "
                f"({r['app_baseline_paint_ms']:.0f} ms)"
            )
    if r.get("app_job_events"):
        out["app_job_paint_ms"] = out.get("app_job_paint_ms", "") + f"; {r['app_job_events']} events on the sheet"
    if r.get("floor_push_per_s"):
        out["floor_push_per_s"] = f"baseline (msgspec decode + executemany, synchronous={r['synchronous']})"
    return out


def table(r: dict[str, Any]) -> str:
    rows = [("figure", "measured", "target", "status", "vs baseline (same run)")]
    ratio = ratios(r)
    for key, (op, target, unit, what) in TARGETS.items():
        if key not in r:
            continue
        rows.append(
            (
                what,
                fmt(r[key], unit),
                f"{op} {fmt(target, unit)}" if op else "-",
                met(key, r[key]),
                ratio.get(key, ""),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    extra = []
    if "concurrency_events_per_s" in r:
        extra.append(
            f"concurrency: {r['concurrency_devices']} devices, {r['concurrency_in_flight']} in flight, "
            f"{r['concurrency_events_per_s']:,.0f} events/s, {r['concurrency_syncs_per_s']:.1f} syncs/s, "
            f"p50 {r['concurrency_p50_s']:.2f} s, server peak RSS {r['concurrency_server_peak_rss_mb']:.0f} MiB, "
            f"CPU s: server {r['concurrency_server_cpu_s']:.1f}, harness {r['concurrency_harness_cpu_s']:.1f} "
            f"in {r['concurrency_wall_s']:.1f} s"
        )
    if "noop_requests" in r:
        extra.append(
            f"no-op sync: {r['noop_requests']} requests ({r['noop_by_path']}), "
            f"{r['noop_bytes_up']} B up / {r['noop_bytes_down']} B down"
        )
    if "incremental_pull_requests" in r:
        extra.append(
            f"incremental: pull {r['incremental_pull_requests']} requests, "
            f"{r['incremental_pull_bytes_down']:,} B down; push {r['incremental_push_requests']} requests, "
            f"{r['incremental_push_bytes_up']:,} B up, pulled back {r['incremental_push_pulled_back']} records"
        )
    if "concurrency2_events_per_s" in r:
        extra.append(
            f"concurrency, two server processes: {r['concurrency2_events_per_s']:,.0f} events/s, "
            f"{r['concurrency2_syncs_per_s']:.1f} syncs/s, p50 {r['concurrency2_p50_s']:.2f} s, "
            f"p99 {r['concurrency2_p99_s']:.2f} s, {r['concurrency2_errors']} errors, "
            f"CPU s: servers {r['concurrency2_server_cpu_s']:.1f} in {r['concurrency2_wall_s']:.1f} s"
        )
    if r.get("backend") == "postgresql":
        extra.append("server: PostgreSQL (BENCH_DB), one database per store; laptop stores: WAL, synchronous=FULL")
    else:
        extra.append(f"server: SQLite WAL, synchronous={r['synchronous']}; laptop stores: WAL, synchronous=FULL")
    return "\n".join(lines + [""] + extra)


def _clean(value: Any) -> Any:
    """NaN (a figure that could not be measured) becomes null: the line stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def primed(settings: Settings, only: set[str], failed: dict[str, str]) -> Any:
    """What runs on the laptop primed by the pull figure's last run: the incremental and no-op
    figures, then the laptop app's first paint (a failure of one is reported on its own)."""
    incremental_then = incremental.after_pull(settings) if "incremental" in only else None
    if incremental_then is None and "app" not in only:
        return None

    def then(world: Any, office_token: str) -> Any:
        def run_all(server: Any, client: Any, counter: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if incremental_then is not None:
                out.update(incremental_then(world, office_token)(server, client, counter))
            if "app" in only:
                try:
                    out.update(field_ui.measure(settings, client))
                except Exception as exc:  # noqa: BLE001
                    import traceback

                    traceback.print_exc()
                    failed["app"] = f"{type(exc).__name__}: {exc}"[:500]
            return out

        return run_all

    return then


def figures_named(only: str | None) -> set[str]:
    """The figures ``--only`` names (all of them without it); ValueError names any unknown."""
    named = set(only.split(",")) if only else set(FIGURES)
    unknown = named - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figures: {', '.join(sorted(unknown))} (known: {', '.join(FIGURES)})")
    return named


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(FIGURES)}")
    args = parser.parse_args(argv)
    try:
        only = figures_named(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    settings = Settings.from_env()
    work = settings.work / f"run-{int(time.time())}"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "n": settings.n,
        "push_n": settings.push_n,
        "runs": settings.runs,
        "backend": database.backend(),
        "synchronous": "FULL" if settings.durable else "NORMAL",
        "laptop_synchronous": "FULL",
        "machine": machine(),
    }
    started = time.perf_counter()
    failed: dict[str, str] = {}

    def figure(name: str, fn: Any) -> Any:
        """Run one figure; a failure is reported (and fails the run) without losing the others."""
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            failed[name] = f"{type(exc).__name__}: {exc}"[:500]
            say(f"{name} FAILED: {failed[name]}")
            return None
        if isinstance(out, dict):
            results.update({k: v for k, v in out.items() if k != "world"})
        settings.out.mkdir(parents=True, exist_ok=True)
        (settings.out / "partial.json").write_text(json.dumps(_clean(results), default=str) + "\n")
        return out

    try:
        if "floor" in only:
            from .datasets import world_fixture

            _, world = world_fixture(work / "floor-fixture", **world_spec(settings))
            figure("floor", lambda: floor.run(settings, world, work / "floor"))
        push_r = figure("push", lambda: push.run(settings, work)) if "push" in only else None
        pull_r = None
        if "pull" in only:
            # The incremental, no-op and app figures run on the last pull run's primed laptop.
            then = primed(settings, only, failed)
            pull_r = figure("pull", lambda: pull.run(settings, work, after=then))
        elif "incremental" in only:
            figure("incremental", lambda: incremental.run(settings, work))
        if "priming" in only:
            figure("priming", lambda: priming.run(settings, work))
        if "concurrency" in only:
            figure("concurrency", lambda: concurrency.run(settings, work))
            if database.backend() == "postgresql":  # one server process against two
                figure("concurrency2", lambda: concurrency.run(settings, work, processes=2))
        results.update(wire.derive(settings.push_n, push_r, pull_r))
    finally:
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)
            database.drop_all()
    if failed:
        results["failed"] = failed
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = {k: met(k, results[k]) for k in TARGETS if k in results}
    print(table(results))
    line = {k: results.get(k) for k in JSON_KEYS}
    line.update({k: v for k, v in results.items() if k not in line})
    text = json.dumps(_clean(line), default=str, separators=(",", ":"), allow_nan=False)
    settings.out.mkdir(parents=True, exist_ok=True)
    (settings.out / "latest.json").write_text(text + "\n")
    print(text)
    say(f"done in {results['total_s']} s; written to {settings.out / 'latest.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
