"""Priming a real scope: an engineer with 200 jobs, 60 sites, 3,000 equipment, the 5,000-part
catalog and 100 drawings totalling 50 MB, ready to go offline.

The data set is a ``fieldsync-fixtures/1`` file with its drawing files, loaded with
``field-server load-fixtures``. Each run enrolls a fresh laptop (``FieldClient.login``, timed
separately) and times its first ``FieldClient.sync()``: every record pulled and committed,
every drawing downloaded, hash-checked, fsynced and put in place. Baseline: the same drawing
bytes fetched with plain httpx GETs into memory (no hashing, no disk), on the same server.

Also reported: the no-op sync of the last primed laptop (``bench.noop``), which holds its 100
drawings, where the incremental figure's laptop holds none: each sync checks that every drawing
is on the laptop (``priming_noop_sync_ms``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from field_client import FieldClient
from sync_protocol import sync_path

from . import noop
from .database import rows
from .common import ENGINEER_ID, CountingTransport, ServerProcess, Settings, median, say
from .datasets import enrollment_tokens, init_store, world_fixture


def spec(settings: Settings) -> dict[str, int]:
    return {
        "jobs": settings.scaled(200, 4),
        "sites": settings.scaled(60, 2),
        "equipment": settings.scaled(3000, 4),
        "parts": settings.scaled(5000, 60),
        "customers": settings.scaled(20, 2),
        "drawings": settings.scaled(100, 2),
        "drawing_total_bytes": settings.scaled(50 * 1024 * 1024, 256 * 1024),
    }


def _drawing_baseline(url: str, token: str, data: Path) -> float:
    shas = [
        r[0]
        for r in rows(data, "SELECT json_extract(data, '$.sha256') FROM records WHERE entity='drawing' AND deleted=0")
    ]
    times = []
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(3):
            t0 = time.perf_counter()
            for sha in shas:
                with http.stream("GET", sync_path(f"blobs/{sha}")) as response:
                    response.raise_for_status()
                    for _chunk in response.iter_bytes():
                        pass
            times.append(time.perf_counter() - t0)
    return median(times)


def run(settings: Settings, work: Path) -> dict[str, Any]:
    shape = spec(settings)
    say(f"priming: {shape}")
    fixture, world = world_fixture(work / "prime-fixture", **shape)
    data = work / "prime-run" / "server"
    init_store(data, fixture)
    tokens = enrollment_tokens(data, ENGINEER_ID, settings.runs)
    runs = []
    idle: dict[str, Any] = {}
    with ServerProcess(data, durable=settings.durable) as server:
        for r in range(settings.runs):
            counter = CountingTransport()
            client = FieldClient(work / "prime-run" / f"laptop{r}", http=counter, timeout=300)
            try:
                t0 = time.perf_counter()
                client.login(server.url, tokens[r])
                login_s = time.perf_counter() - t0
                counter.reset()
                t0 = time.perf_counter()
                report = client.sync()
                elapsed = time.perf_counter() - t0
                traffic = counter.snapshot()
                status = client.status()
                token = client.store.read(
                    lambda c: c.execute("SELECT value FROM meta WHERE key='device_token'").fetchone()[0]
                )
                if r == settings.runs - 1:  # the no-op sync of a laptop that holds its drawings
                    idle = noop.measure(client, counter, samples=max(10, 10 * settings.runs))
                    say(f"priming: no-op sync of the primed laptop {idle['noop_sync_ms']:.2f} ms (median)")
            finally:
                client.close()
            if (
                report.pulled != world.records
                or report.blobs_downloaded != world.drawings
                or status["records"] != world.records
                or not report.ok
            ):
                raise RuntimeError(
                    f"priming run {r}: pulled {report.pulled}/{world.records}, drawings "
                    f"{report.blobs_downloaded}/{world.drawings}: {report.problems[:3]}"
                )
            say(
                f"priming run {r + 1}/{settings.runs}: {elapsed:.2f} s ({report.pulled} records, "
                f"{report.blobs_downloaded} drawings, {counter.requests} requests)"
            )
            runs.append({"s": elapsed, "login_s": login_s, **traffic})
        baseline = _drawing_baseline(server.url, token, data)
        rss = server.proc_status("VmHWM")
    best = sorted(runs, key=lambda x: x["s"])[len(runs) // 2]
    return {
        "priming_s": median(x["s"] for x in runs),
        "priming_samples_s": [x["s"] for x in runs],
        "priming_login_s": median(x["login_s"] for x in runs),
        "priming_records": world.records,
        "priming_drawings": world.drawings,
        "priming_drawing_bytes": world.drawing_bytes,
        "priming_requests": best["requests"],
        "priming_bytes_down": best["bytes_down"],
        "priming_by_path": best["by_path"],
        "priming_baseline_s": baseline,
        "priming_server_peak_rss_mb": rss / 1024,
        "priming_shape": shape,
        "priming_noop_sync_ms": idle["noop_sync_ms"],
        "priming_noop_sync_min_ms": idle["noop_sync_min_ms"],
        "priming_noop_requests": idle["noop_requests"],
    }
