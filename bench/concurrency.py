"""Concurrency: 2,000 simulated laptops, each pushing 50 events and pulling, against one server.

Set-up (not timed): 2,000 engineers (one device each, one job each) in a fixture file loaded
with ``field-server load-fixtures``. The laptops are simulated in several processes
(``BENCH_CONC_PROCS``, default 4, started with ``spawn``), each owning a share of them, so that
the figure measures the server and not one harness process's GIL. Every device is a real
``FieldClient`` with its own store on disk, enrolled and primed by a first sync in its process,
then 50 part swaps are put in its outbox in one local transaction (``outbox.append``, what
``FieldClient.record_event`` ends in).

Each device keeps one HTTP stack (``DeviceHttp``: an httpx transport made in set-up, reused by
every sync of that device), as a real laptop keeps its own connection.

Timed: when every process is ready, all start at once; every device runs ``FieldClient.sync()``
once: the push of 50 (without hello: the priming sync's hello told it the mark, docs/protocol.md),
then the pull. At most ``BENCH_CONCURRENCY`` (default
100) devices are in flight in all, split over the processes' thread pools. The phase has a
deadline (``BENCH_CONC_TIMEOUT``, default 600 s), after which the processes still running are
terminated and their unfinished devices count as errors. Reported: errors (an exception, a
refused mutation, a mutation not applied), p50/p99 of per-device sync time, throughput, the
server's peak RSS (``VmHWM``) and CPU, the harness's CPU summed over its processes. Baseline:
the same sync by one device alone on the same server, measured in this process before the phase.
Afterwards the server's store must hold every event exactly once.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import httpx

from field_client import FieldClient
from field_client import sync as laptop_sync
from sync_protocol import AppendEvent, JobEvent, PartSwap, uuid7

from .database import checkpoint_wal, rows
from .common import ServerProcess, Settings, median, p99, say
from .datasets import init_store, many_enrollment_tokens, world_fixture


class DeviceHttp(httpx.BaseTransport):
    """One device's HTTP connection pool for the whole run (closing a sync's client keeps it)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass  # kept for the device's next sync; closed at the end of the run


@dataclass
class Device:
    """What a harness process needs to play one laptop."""

    index: int
    home: str
    token: str
    job: str
    equipment: str


@dataclass
class Share:
    """One harness process's laptops and how many of them it keeps in flight."""

    url: str
    devices: list[Device]
    skus: list[str]
    per_device: int
    in_flight: int


def _fill_outbox(client: FieldClient, device: Device, skus: list[str], count: int) -> None:
    """``count`` part swaps on the device's job, in one local transaction."""
    from field_client import outbox
    from field_client.store import get_meta

    def work(conn: sqlite3.Connection) -> None:
        user, device_id = get_meta(conn, "user_id"), get_meta(conn, "device_id")
        now = dt.datetime.now(dt.timezone.utc)
        for i in range(count):
            payload = PartSwap(
                equipment_id=device.equipment,
                sku=skus[i % min(50, len(skus))],
                serial_out=f"D{device.index:04d}-OUT-{i:03d}",
                serial_in=f"D{device.index:04d}-IN-{i:03d}",
                notes="concurrency bench swap",
            )
            outbox.append(
                conn,
                lambda seq, hlc, payload=payload: AppendEvent(
                    seq=seq,
                    hlc=hlc,
                    event=JobEvent(
                        id=uuid7(),
                        job_id=device.job,
                        author=user,
                        device_id=device_id,
                        hlc=hlc,
                        at=now,
                        payload=payload,
                    ),
                ),
            )

    client.store.write(work)


def _prepare(url: str, device: Device, stack: DeviceHttp, skus: list[str], per_device: int) -> None:
    client = FieldClient(Path(device.home), timeout=60, http=stack)
    try:
        client.login(url, device.token)
        client.sync()
        _fill_outbox(client, device, skus, per_device)
    finally:
        client.close()


def _sync_once(device: Device, stack: DeviceHttp, per_device: int) -> tuple[float, str | None]:
    """(seconds, problem or None) of one device's timed sync."""
    client = FieldClient(Path(device.home), timeout=60, http=stack)
    try:
        start = time.perf_counter()
        report = client.sync()
        elapsed = time.perf_counter() - start
        if not report.ok or report.rejected or report.applied + report.conflicts != per_device:
            return elapsed, (
                f"device {device.index}: applied {report.applied}, rejected {report.rejected}: {report.problems[:1]}"
            )
        return elapsed, None
    except Exception as exc:  # noqa: BLE001 - every failure is an error of this figure
        return float("nan"), f"device {device.index}: {type(exc).__name__}: {exc}"
    finally:
        client.close()


def _harness(conn: Connection, share: Share, start: Any) -> None:
    """One harness process: prepare its laptops, say ready, wait for the start, sync each once."""
    # ``BENCH_PULL_IN_PUSH=0``: each sync pulls in a request of its own after the push, as
    # before the push answer carried the page; for comparing the two in paired runs.
    laptop_sync.PULL_IN_PUSH = os.environ.get("BENCH_PULL_IN_PUSH", "1") != "0"
    stacks = {d.index: DeviceHttp() for d in share.devices}
    try:
        with cf.ThreadPoolExecutor(max_workers=4) as pool:
            list(
                pool.map(lambda d: _prepare(share.url, d, stacks[d.index], share.skus, share.per_device), share.devices)
            )
        conn.send(("ready", len(share.devices)))
        start.wait()
        cpu0 = time.process_time()
        latencies: list[float] = []
        errors: list[str] = []
        with cf.ThreadPoolExecutor(max_workers=max(1, share.in_flight)) as pool:
            for elapsed, problem in pool.map(lambda d: _sync_once(d, stacks[d.index], share.per_device), share.devices):
                if problem:
                    errors.append(problem)
                else:
                    latencies.append(elapsed)
        conn.send(("done", latencies, errors, time.process_time() - cpu0, time.monotonic()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which counts it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"[:500]))
    finally:
        for stack in stacks.values():
            stack.inner.close()
        conn.close()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run(settings: Settings, work: Path, processes: int = 1) -> dict[str, Any]:
    """The concurrency figure against ``processes`` server processes over one store (PostgreSQL
    runs several; the harness processes share them out round-robin)."""
    devices, per_device, limit = settings.devices, settings.events_per_device, settings.concurrency
    deadline_s = float(os.environ.get("BENCH_CONC_TIMEOUT") or 600)
    procs = max(1, min(int(os.environ.get("BENCH_CONC_PROCS") or 4), devices))
    say(
        f"concurrency: {devices} devices x {per_device} events, {limit} in flight, {procs} harness processes, "
        f"{processes} server process(es)"
    )
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
    every = [
        Device(d, str(work / "conc-run" / f"dev{d:04d}"), tokens[d], world.jobs[d], world.job_equipment[world.jobs[d]])
        for d in range(devices + 1)
    ]
    ctx = mp.get_context("spawn")
    servers = [ServerProcess(data, durable=settings.durable) for _ in range(processes)]
    with contextlib.ExitStack() as running:
        for one_server in servers:
            running.enter_context(one_server)
        server = servers[0]
        start = ctx.Event()
        flights = _split(limit, procs)
        workers: list[tuple[Any, Connection, int]] = []
        t0 = time.perf_counter()
        for p in range(procs):
            mine = every[p:devices:procs]
            parent, child = ctx.Pipe(duplex=False)
            share = Share(servers[p % processes].url, mine, list(world.skus), per_device, flights[p])
            proc = ctx.Process(target=_harness, args=(child, share, start), daemon=True)
            proc.start()
            child.close()
            workers.append((proc, parent, len(mine)))
        errors: list[str] = []
        try:
            ready = _collect(workers, "ready", deadline_s, errors)
            say(
                f"concurrency: {sum(ready.values())} devices enrolled, primed, {per_device} events each "
                f"in their outboxes in {time.perf_counter() - t0:.1f} s"
            )

            # Baseline: one device alone, same work, in this process.
            solo = every[devices]
            stack = DeviceHttp()
            _prepare(server.url, solo, stack, list(world.skus), per_device)
            baseline_s, problem = _sync_once(solo, stack, per_device)
            stack.inner.close()
            if problem:
                raise RuntimeError(f"baseline device: {problem}")

            checkpoint_wal(data)
            peak = {"rss": 0}
            stop = threading.Event()

            def monitor() -> None:
                while not stop.wait(0.2):
                    peak["rss"] = max(peak["rss"], sum(s.proc_status("VmRSS") for s in servers))

            watcher = threading.Thread(target=monitor, daemon=True)
            watcher.start()
            cpu0 = sum(s.cpu_seconds() for s in servers)
            began = time.monotonic()
            start.set()
            done = _collect([w for w in workers if w[1] in ready], "done", deadline_s, errors)
            ended = max((d[3] for d in done.values()), default=time.monotonic())
            wall = max(ended - began, 1e-9)
            server_cpu = sum(s.cpu_seconds() for s in servers) - cpu0
            stop.set()
            watcher.join()
            hwm = sum(s.proc_status("VmHWM") for s in servers)
        finally:
            for proc, parent, _ in workers:
                if proc.is_alive():
                    proc.terminate()
                proc.join(10)
                parent.close()
    for i, (_, parent, _) in enumerate(workers):  # a slower server, or harness, shows here
        if parent in done and done[parent][0]:
            mine = done[parent]
            say(
                f"  harness {i} (server {i % processes}): p50 {median(mine[0]):.2f} s, p99 {p99(mine[0]):.2f} s, "
                f"max {max(mine[0]):.2f} s, done after {mine[3] - began:.1f} s"
            )
    latencies = [x for d in done.values() for x in d[0]]
    errors += [e for d in done.values() for e in d[1]]
    harness_cpu = sum(d[2] for d in done.values())
    pushed, distinct_serials = _held(data)
    expected = (devices + 1) * per_device
    if pushed != expected or distinct_serials != expected:
        errors.append(f"server holds {pushed} pushed events ({distinct_serials} distinct), expected {expected}")
    say(f"concurrency ({processes} process(es)): {wall:.1f} s, {len(errors)} errors, p99 {p99(latencies):.2f} s")
    figures = {
        "concurrency_devices": devices,
        "concurrency_in_flight": limit,
        "concurrency_processes": procs,
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
    prefix = "concurrency_" if processes == 1 else f"concurrency{processes}_"
    return {prefix + key[len("concurrency_") :]: value for key, value in figures.items()}


def _collect(
    workers: list[tuple[Any, Connection, int]], kind: str, deadline_s: float, errors: list[str]
) -> dict[Connection, Any]:
    """Each worker's ``kind`` message, until the deadline; a worker that fails, dies or is late
    counts all its devices as errors."""
    got: dict[Connection, Any] = {}
    waiting = {parent: (proc, count) for proc, parent, count in workers}
    deadline = time.monotonic() + deadline_s
    while waiting and time.monotonic() < deadline:
        for parent in wait(list(waiting), timeout=max(0.0, deadline - time.monotonic())):
            proc, count = waiting.pop(parent)
            try:
                message = parent.recv()
            except EOFError:
                message = ("failed", f"harness process {proc.pid} died (exit {proc.exitcode})")
            if message[0] == kind:
                got[parent] = message[1:] if kind == "done" else message[1]
            else:
                errors.append(f"{count} devices not run: {message[1]}")
    for _, count in waiting.values():
        errors.append(f"{count} devices did not finish the {kind} stage within {deadline_s:.0f} s")
    return got


def _held(data: Path) -> tuple[int, int]:
    ((pushed, distinct_serials),) = rows(
        data,
        "SELECT count(*), count(DISTINCT json_extract(data, '$.payload.serial_in')) FROM records "
        "WHERE entity='event' AND deleted=0 AND id NOT LIKE 'ev-%'",
    )
    return int(pushed), int(distinct_serials)
