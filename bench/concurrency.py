"""Concurrency: 500 simulated devices, each pushing 50 events and pulling, against one server.

Set-up (not timed): 500 engineers (one device each, one job each) in a fixture file loaded with
``field-server load-fixtures``; every device is a real ``FieldClient`` with its own store on
disk, enrolled and primed by a first sync, then 50 part swaps recorded with
``FieldClient.record_event``.

Each device keeps one HTTP stack (``DeviceHttp``: an httpx transport made in set-up, reused by
every sync of that device): 500 devices share this process's one GIL while real ones each have
their own CPU, so the per-sync client set-up (``FieldClient.sync`` builds a new httpx client, and
with it a TLS context, each time; see the no-op figure) must not be serialised here.

Timed: every device runs ``FieldClient.sync()`` (hello, push 50, pull) once, at most
``BENCH_CONCURRENCY`` (default 50) at a time from a thread pool in this process, which is
how the run is bounded; the whole phase also has a deadline (``BENCH_CONC_TIMEOUT``, default
600 s) after which unfinished devices count as errors. Reported: errors (an exception, a
refused mutation, a mutation not applied), p50/p99 of per-device sync time, throughput, the
server's peak RSS (``VmHWM``). Baseline: the same sync by one device alone on the same server.
Afterwards the server's store must hold every event exactly once.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from field_client import FieldClient
from sync_protocol import PartSwap

from .database import rows
from .common import (
    ServerProcess,
    Settings,
    World,
    init_store,
    many_enrollment_tokens,
    median,
    p99,
    say,
    world_fixture,
)


class DeviceHttp(httpx.BaseTransport):
    """One device's HTTP connection pool for the whole run (closing a sync's client keeps it)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass  # kept for the device's next sync; closed at the end of the run


def _record(client: FieldClient, world: World, job: str, count: int, tag: str) -> None:
    for i in range(count):
        client.record_event(
            job,
            PartSwap(
                equipment_id=world.job_equipment[job],
                sku=world.skus[i % min(50, len(world.skus))],
                serial_out=f"{tag}-OUT-{i:03d}",
                serial_in=f"{tag}-IN-{i:03d}",
                notes="concurrency bench swap",
            ),
        )


def run(settings: Settings, work: Path, processes: int = 1) -> dict[str, Any]:
    """The figure against ``processes`` server processes over one store (PostgreSQL for more
    than one): device ``d`` syncs with process ``d % processes``, as a load balancer that keeps
    a device on one process would spread them. Keys ``concurrency_*`` for one process,
    ``concurrency<N>_*`` for N."""
    devices, per_device, limit = settings.devices, settings.events_per_device, settings.concurrency
    deadline_s = float(os.environ.get("BENCH_CONC_TIMEOUT") or 600)
    say(f"concurrency: {devices} devices x {per_device} events, {limit} in flight, {processes} server process(es)")
    work = work / f"conc-{processes}"
    engineers = [(f"u-c{d:04d}", f"c{d:04d}") for d in range(devices + 1)]  # the last one: baseline
    fixture, world = world_fixture(
        work / "conc-fixture",
        jobs=devices + 1,
        sites=max(1, (devices + 1) // 5),
        equipment=2 * max(1, (devices + 1) // 5),
        parts=60,
        customers=20,
        engineers=engineers,
    )
    data = work / "conc-run" / "server"
    init_store(data, fixture)
    tokens = many_enrollment_tokens(data, [uid for uid, _ in engineers])
    homes = [work / "conc-run" / f"dev{d:04d}" for d in range(devices + 1)]
    stacks = [DeviceHttp() for _ in range(devices + 1)]
    servers = [ServerProcess(data, durable=settings.durable) for _ in range(processes)]
    with contextlib.ExitStack() as running:
        for one_server in servers:
            running.enter_context(one_server)

        def prepare(d: int) -> None:
            client = FieldClient(homes[d], timeout=60, http=stacks[d])
            try:
                client.login(servers[d % processes].url, tokens[d])
                client.sync()
                _record(client, world, world.jobs[d], per_device, f"D{d:04d}")
            finally:
                client.close()

        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(prepare, range(devices + 1)))
        say(
            f"concurrency: {devices + 1} devices enrolled, primed, {per_device} events each recorded "
            f"in {time.perf_counter() - t0:.1f} s"
        )

        # Baseline: one device alone, same work.
        solo = FieldClient(homes[devices], timeout=60, http=stacks[devices])
        t0 = time.perf_counter()
        solo_report = solo.sync()
        baseline_s = time.perf_counter() - t0
        solo.close()
        if solo_report.applied != per_device:
            raise RuntimeError(f"baseline device applied {solo_report.applied}")

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        peak = {"rss": 0}
        stop = threading.Event()

        def monitor() -> None:
            while not stop.wait(0.2):
                peak["rss"] = max(peak["rss"], sum(s.proc_status("VmRSS") for s in servers))

        def one(d: int) -> None:
            client = FieldClient(homes[d], timeout=60, http=stacks[d])
            try:
                start = time.perf_counter()
                report = client.sync()
                elapsed = time.perf_counter() - start
                problem = None
                if not report.ok or report.rejected or report.applied + report.conflicts != per_device:
                    problem = f"device {d}: applied {report.applied}, rejected {report.rejected}: {report.problems[:1]}"
            except Exception as exc:  # noqa: BLE001 - every failure is an error of this figure
                elapsed, problem = float("nan"), f"device {d}: {type(exc).__name__}: {exc}"
            finally:
                client.close()
            with lock:
                if problem:
                    errors.append(problem)
                else:
                    latencies.append(elapsed)

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        cpu0, hcpu0 = sum(s.cpu_seconds() for s in servers), time.process_time()
        t0 = time.perf_counter()
        pool = cf.ThreadPoolExecutor(max_workers=limit)
        futures = [pool.submit(one, d) for d in range(devices)]
        done, not_done = cf.wait(futures, timeout=deadline_s)
        for f in not_done:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        wall = time.perf_counter() - t0
        server_cpu, harness_cpu = sum(s.cpu_seconds() for s in servers) - cpu0, time.process_time() - hcpu0
        stop.set()
        watcher.join()
        if not_done:
            errors.append(f"{len(not_done)} devices did not finish within {deadline_s:.0f} s")
        hwm = sum(s.proc_status("VmHWM") for s in servers)
    for stack in stacks:
        stack.inner.close()
    ((pushed, distinct_serials),) = rows(
        data,
        "SELECT count(*), count(DISTINCT json_extract(data, '$.payload.serial_in')) FROM records "
        "WHERE entity='event' AND deleted=0 AND id NOT LIKE 'ev-%'",
    )
    expected = (devices + 1) * per_device
    if pushed != expected or distinct_serials != expected:
        errors.append(f"server holds {pushed} pushed events ({distinct_serials} distinct), expected {expected}")
    say(f"concurrency ({processes} process(es)): {wall:.1f} s, {len(errors)} errors, p99 {p99(latencies):.2f} s")
    prefix = "concurrency_" if processes == 1 else f"concurrency{processes}_"
    figures = {
        "concurrency_devices": devices,
        "concurrency_in_flight": limit,
        "concurrency_events": devices * per_device,
        "concurrency_errors": len(errors),
        "concurrency_error_samples": errors[:5],
        "concurrency_wall_s": wall,
        "concurrency_p50_s": median(latencies) if latencies else float("nan"),
        "concurrency_p99_s": p99(latencies),
        "concurrency_max_s": max(latencies) if latencies else float("nan"),
        "concurrency_events_per_s": devices * per_device / wall,
        "concurrency_syncs_per_s": devices / wall,
        "concurrency_server_cpu_s": server_cpu,
        "concurrency_harness_cpu_s": harness_cpu,
        "concurrency_server_peak_rss_mb": max(hwm, peak["rss"]) / 1024,
        "concurrency_baseline_s": baseline_s,
    }
    return {prefix + key[len("concurrency_") :]: value for key, value in figures.items()} | (
        {} if processes == 1 else {f"concurrency{processes}_processes": processes}
    )
