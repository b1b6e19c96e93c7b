"""``field job`` on a big laptop: one job with 500 events on a store of 5,000 jobs.

Target (issue 3): the sheet renders in under 200 ms. Prints the in-process time (store opened,
sheet built and rendered, the median of several runs) and the whole command's wall time
(``python -m field_client.cli job``, interpreter start included) beside a baseline: the same
command for ``status``, which reads almost nothing.

    python -m bench.field_job [--jobs 5000] [--events 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from field_client import FieldClient, Workbench, replica
from field_client.render import sheet_text
from field_client.store import set_meta
from sync_protocol import Customer, Equipment, Job, JobEvent, Note, Site, uuid7

ROOT = Path(__file__).resolve().parents[1]


def build(home: Path, jobs: int, events: int) -> None:
    at = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with FieldClient(home) as client:

        def seed(conn) -> None:  # type: ignore[no-untyped-def]
            for key, value in (
                ("server_url", "http://127.0.0.1:9"),
                ("device_id", "dev-bench"),
                ("user_id", "u-bench"),
                ("user_name", "Bench"),
                ("role", "engineer"),
            ):
                set_meta(conn, key, value)
            replica.put(conn, Customer(id="C-1", name="Customer"), 1)
            version = 2
            for n in range(jobs):
                site = f"S-{n % 60}"
                if n < 60:
                    replica.put(conn, Site(id=site, customer_id="C-1", name=f"Site {n}"), version)
                    replica.put(conn, Equipment(id=f"EQ-{n}", site_id=site, model="R740", serial=f"SN{n}"), version)
                replica.put(
                    conn,
                    Job(
                        id=f"J-{n:05d}",
                        number=f"SR-{n:05d}",
                        customer_id="C-1",
                        site_id=site,
                        equipment_ids=[f"EQ-{n % 60}"],
                        severity=1 + n % 4,
                        reported_at=at,
                        status="assigned",
                        assignee="u-bench",
                    ),
                    version,
                )
                version += 1
            for n in range(events):
                stamp = f"{1_700_000_000_000 + n:012x}0000"
                replica.put(
                    conn,
                    JobEvent(
                        id=uuid7(),
                        job_id="J-00000",
                        hlc=stamp,
                        at=at,
                        payload=Note(text=f"observation {n}: " + "x" * 80),
                    ),
                    version + n,
                )

        client.store.write(seed)


def in_process(home: Path, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with FieldClient(home) as client:
            text = sheet_text(Workbench(client).sheet("J-00000"))
        times.append(time.perf_counter() - start)
    assert "observation 499" in text or "observation" in text
    return statistics.median(times) * 1000


def command(home: Path, *args: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "field_client.cli", "--home", str(home), *args],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "laptop"
        build(home, args.jobs, args.events)
        sheet_ms = in_process(home)
        job_cmd, status_cmd = command(home, "job", "J-00000"), command(home, "status")
    figures = {
        "field_job_render_ms": round(sheet_ms, 1),
        "field_job_command_ms": round(job_cmd, 1),
        "field_status_command_ms": round(status_cmd, 1),
        "command_over_baseline": round(job_cmd / status_cmd, 2),
        "jobs": args.jobs,
        "events": args.events,
    }
    print(f"field job, {args.events} events on a store of {args.jobs} jobs")
    print(f"  sheet built and rendered (in process, median): {sheet_ms:8.1f} ms   target <= 200 ms")
    print(f"  `field job` command, interpreter included:     {job_cmd:8.1f} ms")
    print(f"  `field status` baseline command:               {status_cmd:8.1f} ms   ratio {job_cmd / status_cmd:.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
