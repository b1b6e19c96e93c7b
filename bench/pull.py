"""Initial pull: a fresh laptop primes 100,000 records (the part swaps) plus the engineer's world.

Set-up (not timed): the push figure's world loaded with ``field-server load-fixtures``, N part
swap events put in the closed store with ``server.storage.records.put_many`` (as if pushed earlier),
one-time enrollment tokens. Each run copies that store, starts a fresh server process, enrolls
a new laptop (``FieldClient.login``, not timed) and times its first ``FieldClient.sync()``:
hello, every page pulled and committed with its cursor, drawings checked. The last run's
primed laptop and server then serve the incremental and no-op figures (``bench.incremental``).

Same-run baseline: each run is paired with one of the laptop as it pulled before pages were
pipelined and compressed (``field_client.pulling.PREFETCH`` off, ``Accept-Encoding: identity``),
on its own copy of the same store, run just before it; ``pull_speedup`` is the ratio of the
medians, and ``pull_baseline_*`` are its figures.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from field_client import FieldClient
from field_client import pulling as laptop_pull

from .common import DISPATCHER_ID, ENGINEER_ID, CountingTransport, ServerProcess, Settings, median, say

from .datasets import World, checkpoint, copy_server, enrollment_tokens, init_store, seed_events, world_fixture
from .database import settle
from .push import world_spec


class Template(NamedTuple):
    data: Path
    tokens: list[str]  # one per laptop to enroll
    office_token: str  # the dispatcher's, for the incremental figure
    world: World


def make_template(settings: Settings, root: Path, devices: int) -> Template:
    fixture, world = world_fixture(root / "fixture", **world_spec(settings))
    data = root / "server"
    init_store(data, fixture)
    seed_events(data, world, settings.n)
    tokens = enrollment_tokens(data, ENGINEER_ID, devices)
    office = enrollment_tokens(data, DISPATCHER_ID, 1)[0]
    checkpoint(data / "fieldsync.db")
    settle(data)
    world.records += settings.n
    return Template(data, tokens, office, world)


After = Callable[[ServerProcess, FieldClient, CountingTransport], dict[str, Any]]


def once(
    settings: Settings,
    data: Path,
    token: str,
    home: Path,
    expected: int,
    after: After | None = None,
    baseline: bool = False,
) -> dict[str, Any]:
    """One first pull; ``after(server, client, counter)`` then runs on the primed laptop.
    ``baseline``: without prefetch and without gzip, as laptops pulled before."""
    extra: dict[str, Any] = {}
    with ServerProcess(data, durable=settings.durable) as server:
        counter = CountingTransport()
        counter.identity = baseline
        laptop_pull.PREFETCH = not baseline
        client = FieldClient(home, http=counter, timeout=300)
        try:
            client.login(server.url, token)
            counter.reset()
            cpu0, scpu0 = time.process_time(), server.cpu_seconds()
            t0 = time.perf_counter()
            report = client.sync()
            elapsed = time.perf_counter() - t0
            cpu, scpu = time.process_time() - cpu0, server.cpu_seconds() - scpu0
            held = client.status()["records"]
            wire = counter.snapshot()
            laptop_pull.PREFETCH = True
            if after is not None and report.pulled == expected:
                extra = after(server, client, counter)
        finally:
            laptop_pull.PREFETCH = True
            client.close()
        rss = server.proc_status("VmHWM")
    if report.pulled != expected or held != expected or not report.ok:
        raise RuntimeError(
            f"pull run incomplete: pulled {report.pulled}, holds {held}, expected {expected}: {report.problems[:3]}"
        )
    return {
        "s": elapsed,
        "records": report.pulled,
        "pages": report.pages,
        "client_cpu_s": cpu,
        "server_cpu_s": scpu,
        "server_peak_rss_mb": rss / 1024,
        **wire,
        "after": extra,
    }


def run(settings: Settings, work: Path, after: Callable[[World, str], After] | None = None) -> dict[str, Any]:
    """The pull figure; ``after(world, office_token)`` gives a function run on the last run's
    primed laptop and server (the incremental and no-op figures), whose results are merged."""
    say(f"pull: template with {settings.n} part swaps in one engineer's scope")
    template = make_template(settings, work / "pull-template", 2 * settings.runs)
    data, tokens, world = template.data, template.tokens, template.world
    runs, before = [], []
    for r in range(settings.runs):
        for mode in ("baseline", "now"):
            base = work / f"pull-run{r}-{mode}"
            run_data = copy_server(data, base / "server")
            last = mode == "now" and r == settings.runs - 1
            then = after(world, template.office_token) if after is not None and last else None
            token = tokens[2 * r + (mode == "now")]
            result = once(settings, run_data, token, base / "laptop", world.records, then, baseline=mode == "baseline")
            say(
                f"pull run {r + 1}/{settings.runs} ({mode}): {result['s']:.2f} s, "
                f"{result['records'] / result['s']:,.0f}/s, {result['requests']} requests, {result['pages']} pages, "
                f"{result['bytes_down'] / result['records']:.0f} B/record down"
            )
            (runs if mode == "now" else before).append(result)
            if not last and not settings.keep:
                shutil.rmtree(base, ignore_errors=True)
    t = median(x["s"] for x in runs)
    best = sorted(runs, key=lambda x: x["s"])[len(runs) // 2]
    t0 = median(x["s"] for x in before)
    best0 = sorted(before, key=lambda x: x["s"])[len(before) // 2]
    return {
        "pull_baseline_s": t0,
        "pull_baseline_per_s": best0["records"] / t0,
        "pull_baseline_samples_s": [x["s"] for x in before],
        "pull_baseline_requests": best0["requests"],
        "pull_baseline_bytes_down_per_record": best0["bytes_down"] / best0["records"],
        "pull_baseline_client_cpu_s": best0["client_cpu_s"],
        "pull_baseline_server_cpu_s": best0["server_cpu_s"],
        "pull_speedup": t0 / t,
        "pull_s": t,
        "pull_records": best["records"],
        "pull_per_s": best["records"] / t,
        "pull_samples_s": [x["s"] for x in runs],
        "pull_requests": best["requests"],
        "pull_bytes_up": best["bytes_up"],
        "pull_bytes_down": best["bytes_down"],
        "pull_by_path": best["by_path"],
        "pull_client_cpu_s": best["client_cpu_s"],
        "pull_server_cpu_s": best["server_cpu_s"],
        "pull_server_peak_rss_mb": best["server_peak_rss_mb"],
        **runs[-1]["after"],
    }
