"""Push: 100,000 part swaps recorded on one laptop, pushed until every one is acknowledged.

Set-up (not timed): a server store made with ``field-server init`` + ``load-fixtures``, one
laptop enrolled and primed with a real ``FieldClient.sync()``, then its outbox filled with N
part swaps (``field_client.outbox.append``). Server and laptop stores are then frozen as a
template; the first run uses the template's server (still up) and a copy of the laptop, each
later run copies both stores and starts a fresh server process on the copy; each times
``say_hello`` + ``push_outbox`` of ``field_client.sync`` (what ``FieldClient.sync()`` does
before it pulls): every mutation sent, answered, and settled out of the outbox on disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from field_client import FieldClient
from field_client.store import set_meta
from field_client.report import SyncReport
from field_client.sync import push_outbox, say_hello

from .common import ENGINEER_ID, CountingTransport, ServerProcess, Settings, median, say

from .datasets import (
    World,
    checkpoint,
    copy_server,
    copy_tree,
    enrollment_tokens,
    init_store,
    record_events_fast,
    snapshot_store,
    world_fixture,
)


def world_spec(settings: Settings) -> dict[str, int]:
    """The engineer's world the push and pull record counts sit in (not scaled with N)."""
    return {"jobs": 200, "sites": 60, "equipment": 600, "parts": 60, "customers": 20}


def make_template(
    settings: Settings, root: Path, first_run: Callable[[ServerProcess, Path], dict[str, Any]] | None = None
) -> tuple[Path, Path, World, dict[str, Any] | None]:
    """Server store and laptop store with N part swaps pending, frozen under ``root``. With
    ``first_run``, the template's own server (still up) serves it on a copy of the laptop,
    which saves a server start; later runs start their own server on copies."""
    fixture, world = world_fixture(root / "fixture", **world_spec(settings))
    live, home = root / "live", root / "laptop"
    init_store(live, fixture)
    token = enrollment_tokens(live, ENGINEER_ID, 1)[0]
    first = None
    with ServerProcess(live, durable=settings.durable) as server:
        client = FieldClient(home, timeout=300)
        try:
            client.login(server.url, token)
            client.sync()
            record_events_fast(client, world, settings.push_n)
        finally:
            client.close()
        data = snapshot_store(live, root / "server")
        checkpoint(home / "field.db")
        if first_run is not None:
            first = first_run(server, copy_tree(home, root / "run0-laptop"))
    checkpoint(data / "fieldsync.db")
    return data, home, world, first


def _push(settings: Settings, server: ServerProcess, home: Path) -> dict[str, Any]:
    counter = CountingTransport()
    client = FieldClient(home, http=counter, timeout=300)
    try:
        client.store.write(lambda c: set_meta(c, "server_url", server.url))
        transport = client.transport()
        report = SyncReport()
        cpu0, scpu0 = time.process_time(), server.cpu_seconds()
        t0 = time.perf_counter()
        hello = say_hello(client.store, transport)
        push_outbox(client.store, transport, hello, report)
        elapsed = time.perf_counter() - t0
        cpu, scpu = time.process_time() - cpu0, server.cpu_seconds() - scpu0
        transport.close()
        left = client.status()["pending"]
    finally:
        client.close()
    rss = server.proc_status("VmHWM")
    if left or report.applied != settings.push_n or report.pushed != settings.push_n:
        raise RuntimeError(
            f"push run incomplete: pushed {report.pushed}, applied {report.applied}, "
            f"conflicts {report.conflicts}, rejected {report.rejected}, left {left}: "
            f"{report.problems[:3]}"
        )
    return {
        "s": elapsed,
        "per_s": settings.push_n / elapsed,
        "client_cpu_s": cpu,
        "server_cpu_s": scpu,
        "server_peak_rss_mb": rss / 1024,
        **counter.snapshot(),
    }


def once(settings: Settings, template: tuple[Path, Path], run_dir: Path) -> dict[str, Any]:
    data = copy_server(template[0], run_dir / "server")
    home = copy_tree(template[1], run_dir / "laptop")
    with ServerProcess(data, durable=settings.durable) as server:
        return _push(settings, server, home)


def _said(r: int, settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    say(
        f"push run {r + 1}/{settings.runs}: {result['s']:.2f} s, {result['per_s']:,.0f}/s, "
        f"{result['requests']} requests"
    )
    return result


def run(settings: Settings, work: Path) -> dict[str, Any]:
    say(f"push: template with {settings.push_n} part swaps in one laptop's outbox")
    data, home, world, first = make_template(
        settings, work / "push-template", lambda server, laptop: _push(settings, server, laptop)
    )
    assert first is not None
    runs = [_said(0, settings, first)]
    for r in range(1, settings.runs):
        runs.append(_said(r, settings, once(settings, (data, home), work / f"push-run{r}")))
    t = median(x["s"] for x in runs)
    best = sorted(runs, key=lambda x: x["s"])[len(runs) // 2]
    return {
        "push_s": t,
        "push_per_s": settings.push_n / t,
        "push_samples_s": [x["s"] for x in runs],
        "push_requests": best["requests"],
        "push_bytes_up": best["bytes_up"],
        "push_bytes_down": best["bytes_down"],
        "push_by_path": best["by_path"],
        "push_client_cpu_s": best["client_cpu_s"],
        "push_server_cpu_s": best["server_cpu_s"],
        "push_server_peak_rss_mb": best["server_peak_rss_mb"],
        "world": world,
    }
