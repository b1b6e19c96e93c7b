"""What every figure shares: settings, the server process, data sets, counting HTTP, stats.

Data sets are made the way an operator would make them: a ``fieldsync-fixtures/1`` file loaded
with ``field-server load-fixtures`` (users, customers, sites, equipment, parts, stock, jobs,
drawings), plus, for bulk record counts, ``server.storage.records.put_many`` on the closed store before
the server starts. Enrollment tokens come from ``server.auth`` the same way ``field-server user
add`` makes them. Nothing here reaches into a running server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import httpx
import msgspec

from server.process import ServerProcess as BaseServerProcess
from sync_protocol import (
    AppendEvent,
    Backup,
    Checkin,
    Customer,
    Drawing,
    Equipment,
    Job,
    JobEvent,
    Part,
    PartSwap,
    Site,
    Stock,
    stock_id,
    uuid7,
    van,
)

ROOT = Path(__file__).resolve().parents[1]
FULL_N = 100_000

ENGINEER = "bench-eng"
ENGINEER_ID = "u-bench-eng"
DISPATCHER = "bench-disp"
DISPATCHER_ID = "u-bench-disp"


# --- settings ----------------------------------------------------------------------------------


@dataclass
class Settings:
    n: int = FULL_N  # records for pull (and the push, floor unless push_n is set)
    push_n: int = FULL_N  # part swaps for push and floor (BENCH_PUSH_N, default n)
    runs: int = 3  # repetitions of each figure (the median is reported)
    durable: bool = False  # server synchronous=FULL instead of NORMAL
    concurrency: int = 100  # devices in flight at once in the concurrency figure
    devices: int = 2000  # simulated devices in the concurrency figure
    events_per_device: int = 50
    work: Path = ROOT / "var" / "bench" / "work"
    out: Path = ROOT / "var" / "bench"
    keep: bool = False

    @property
    def scale(self) -> float:
        return self.n / FULL_N

    def scaled(self, full: int, minimum: int) -> int:
        """A count of the full-size scenario, scaled like ``n`` but never below ``minimum``."""
        return max(minimum, round(full * self.scale))

    @staticmethod
    def from_env() -> "Settings":
        s = Settings()
        s.n = int(os.environ.get("BENCH_N") or FULL_N)
        s.push_n = int(os.environ.get("BENCH_PUSH_N") or s.n)
        s.runs = int(os.environ.get("BENCH_RUNS") or 3)
        s.durable = os.environ.get("BENCH_DURABLE", "") not in ("", "0", "no", "false")
        s.concurrency = int(os.environ.get("BENCH_CONCURRENCY") or 100)
        s.devices = s.scaled(2000, 4) if not os.environ.get("BENCH_DEVICES") else int(os.environ["BENCH_DEVICES"])
        if os.environ.get("BENCH_OUT"):
            s.out = Path(os.environ["BENCH_OUT"]).resolve()
            s.work = s.out / "work"
        s.keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
        return s


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(0.99 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    import sqlite3

    try:
        head = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return {
        "git": head,
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "msgspec": msgspec.__version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- the server process --------------------------------------------------------------------------


def cli(*args: str) -> Any:
    """``field-server ... --json``, run in this process (``server.cli.main``, the very code of
    the command, without paying a Python start-up per command); returns the parsed answer."""
    import contextlib
    import io

    from server.cli import main as field_server

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = field_server([*args, "--json"])
    if code != 0:
        raise RuntimeError(f"field-server {' '.join(args)} exited {code}: {err.getvalue().strip()}")
    return json.loads(out.getvalue()) if out.getvalue().strip() else None


class ServerProcess(BaseServerProcess):
    """``field-server serve`` in a subprocess on a free loopback port (``server.process``), with
    what the figures read off it: CPU seconds, peak memory, and py-spy samples on request."""

    def __init__(self, data_dir: Path, durable: bool = False) -> None:
        super().__init__(data_dir, args=["--durable"] if durable else [])
        self.durable = durable
        self.spy: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        super().start(timeout)
        self._spy_start()
        return self

    def proc_status(self, key: str) -> int:
        """A ``/proc/<pid>/status`` value in KiB (VmRSS, VmHWM = peak RSS)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_seconds(self) -> float:
        """utime + stime of the server process so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def _spy_start(self) -> None:
        """With ``BENCH_PYSPY=DIR``, sample this server with py-spy (collapsed stacks, all
        threads, idle excluded) into ``DIR/server-<port>.txt`` until it stops."""
        target = os.environ.get("BENCH_PYSPY")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not target or not Path(spy).exists():
            return
        out = Path(target).resolve()
        out.mkdir(parents=True, exist_ok=True)
        self.spy = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out / f"server-{self.port}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self, grace: float = 15.0) -> None:
        spy = getattr(self, "spy", None)
        if spy is not None and spy.poll() is None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        super().stop(grace)

    def __enter__(self) -> "ServerProcess":
        return self.start()


def rtt_baseline(url: str, samples: int = 50) -> float:
    """Median ms of a bare HTTP round trip (GET /healthz, kept-alive connection) to ``url``."""
    times = []
    with httpx.Client(base_url=url, timeout=10) as client:
        client.get("/healthz")
        for _ in range(samples):
            t0 = time.perf_counter()
            client.get("/healthz").raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return median(times)


# --- counting HTTP ---------------------------------------------------------------------------------


class _CountingStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, counter: "CountingTransport") -> None:
        self._inner = inner
        self._counter = counter

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._counter.bytes_down += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, counting requests and bytes on the way: the request line, the
    headers and the body up; the status line, the headers and the body down (as received, so
    compressed if the server compressed). TCP/IP framing is not counted, as in the peer."""

    def __init__(self) -> None:
        self._inner: httpx.HTTPTransport | None = None
        self.requests = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.by_path: dict[str, int] = {}
        self.latencies: list[float] = []
        # The same-run baseline of the pull figure asks for pages uncompressed, as laptops did
        # before pages were gzip-compressed.
        self.identity = False

    def reset(self) -> None:
        self.requests = self.bytes_up = self.bytes_down = 0
        self.by_path = {}
        self.latencies = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "by_path": dict(self.by_path),
        }

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = httpx.HTTPTransport()
        if self.identity:
            request.headers["Accept-Encoding"] = "identity"
        target = request.url.raw_path.decode()
        head = (
            len(f"{request.method} {target} HTTP/1.1\r\n")
            + 2
            + sum(len(k) + len(v) + 4 for k, v in request.headers.raw)
        )
        body = request.read()
        self.requests += 1
        self.bytes_up += head + len(body)
        path = request.url.path
        key = f"{request.method} {path.rsplit('/', 1)[0] if '/blobs/' in path else path}"
        self.by_path[key] = self.by_path.get(key, 0) + 1
        t0 = time.perf_counter()
        response = self._inner.handle_request(request)
        self.latencies.append(time.perf_counter() - t0)
        self.bytes_down += (
            len(f"HTTP/1.1 {response.status_code} OK\r\n")
            + 2
            + sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
        )
        response.stream = _CountingStream(response.stream, self)
        return response

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None


# --- data sets -------------------------------------------------------------------------------------

_T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.timezone.utc)


def _enc(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


@dataclass
class World:
    """An engineer's world: ids that data generators and checks need."""

    jobs: list[str] = field(default_factory=list)
    job_equipment: dict[str, str] = field(default_factory=dict)
    skus: list[str] = field(default_factory=list)
    drawings: int = 0
    drawing_bytes: int = 0
    records: int = 0


def world_fixture(
    directory: Path,
    *,
    jobs: int,
    sites: int,
    equipment: int,
    parts: int,
    customers: int = 20,
    drawings: int = 0,
    drawing_total_bytes: int = 0,
    engineers: list[tuple[str, str]] | None = None,
    seed: int = 7,
) -> tuple[Path, World]:
    """Write a ``fieldsync-fixtures/1`` file (and its drawing files) for one engineer's world.

    ``engineers`` is a list of (user id, login name); jobs are dealt to them round robin, all
    ``on_site`` with a verified backup event, so part swaps are accepted on both sides.
    Van stock is ample (no stock conflicts: the figure is throughput, not deficits).
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    engineers = engineers or [(ENGINEER_ID, ENGINEER)]
    users = [{"id": uid, "name": name, "display_name": f"Bench {name}", "role": "engineer"} for uid, name in engineers]
    users.append({"id": DISPATCHER_ID, "name": DISPATCHER, "display_name": "Bench dispatcher", "role": "dispatcher"})
    records: list[Any] = []
    world = World()
    sites = max(1, min(sites, jobs if jobs else sites))
    customers = max(1, min(customers, sites))
    for c in range(customers):
        records.append(
            Customer(
                id=f"C-{c:03d}",
                name=f"Customer {c} 客户",
                address=f"{c} Zhangjiang Road, Shanghai",
                phone="+86 21 5080 1188",
            )
        )
    for s in range(sites):
        records.append(
            Site(
                id=f"S-{s:03d}",
                customer_id=f"C-{s % customers:03d}",
                name=f"Site {s} 机房",
                address=f"Building {s}, 1888 Zhangjiang Road",
                contact_name="刘洋 Liu Yang",
                contact_phone="+86 138 0210 1001",
                access_notes="badge from facility office",
                subsystems=["computing", "network", "power"],
            )
        )
    equipment = max(equipment, sites)
    site_equipment: dict[int, list[str]] = {}
    for e in range(equipment):
        s = e % sites
        eid = f"EQ-{e:05d}"
        site_equipment.setdefault(s, []).append(eid)
        records.append(
            Equipment(
                id=eid,
                site_id=f"S-{s:03d}",
                category="server",
                manufacturer="Dell",
                model="PowerEdge R740",
                serial=f"DEL{e:011d}",
                location=f"Rack A{e % 40} U{e % 42}",
                subsystem="computing",
                firmware="1.0.0",
                install_date=dt.date(2024, 6, 15),
                warranty_end=dt.date(2030, 12, 31),
                parameters={"ip": f"10.{s % 250}.{e % 250}.10", "raid": "RAID 5"},
            )
        )
    for p in range(parts):
        sku = f"SKU-{p:05d}"
        world.skus.append(sku)
        records.append(Part(id=sku, name=f"Part {p} 备件", price_cents=1000 + p, warranty_days=365))
    for uid, _ in engineers:
        for sku in world.skus[:50]:
            records.append(Stock(id=stock_id(van(uid), sku), location=van(uid), sku=sku, qty=10**9))
    drawing_files = []
    if drawings:
        ddir = directory / "drawings"
        ddir.mkdir(exist_ok=True)
        each = max(1, drawing_total_bytes // drawings)
        import hashlib

        for d in range(drawings):
            data = rng.randbytes(each)
            path = ddir / f"D-{d:03d}.pdf"
            path.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            drawing_files.append({"sha256": sha, "path": f"drawings/{path.name}", "media_type": "application/pdf"})
            records.append(
                Drawing(
                    id=f"D-{d:03d}",
                    site_id=f"S-{d % sites:03d}",
                    title=f"Drawing {d}",
                    kind="network",
                    filename=path.name,
                    media_type="application/pdf",
                    sha256=sha,
                    size=len(data),
                )
            )
            world.drawing_bytes += len(data)
        world.drawings = drawings
    backup_sha = "0" * 64
    for j in range(jobs):
        s = j % sites
        uid, name = engineers[j % len(engineers)]
        jid = f"J-{j:05d}"
        eq = site_equipment[s][(j // sites) % len(site_equipment[s])]
        world.jobs.append(jid)
        world.job_equipment[jid] = eq
        records.append(
            Job(
                id=jid,
                number=f"SR-2026-{j:05d}",
                customer_id=f"C-{s % customers:03d}",
                site_id=f"S-{s:03d}",
                equipment_ids=[eq],
                fault="server down, amber PSU LED",
                severity=1 + j % 4,
                reported_by="刘洋 Liu Yang",
                reported_at=_T0,
                status="on_site",
                assignee=uid,
                assignee_name=f"Bench {name}",
                warranty="out",
            )
        )
        at = _T0 + dt.timedelta(minutes=5)
        records.append(
            JobEvent(
                id=f"ev-checkin-{j:05d}",
                job_id=jid,
                author=uid,
                device_id="seed",
                hlc="0193f1c2a4b00000",
                at=at,
                payload=Checkin(note="on site"),
            )
        )
        records.append(
            JobEvent(
                id=f"ev-backup-{j:05d}",
                job_id=jid,
                author=uid,
                device_id="seed",
                hlc="0193f1c2a4b00001",
                at=at,
                payload=Backup(
                    scope="system", method="image", stored_at="NAS", size=1, sha256=backup_sha, verified=True
                ),
            )
        )
    world.records = len(records)
    path = directory / "data.json"
    path.write_bytes(
        msgspec.json.encode(
            {
                "format": "fieldsync-fixtures/1",
                "users": users,
                "records": [_enc(r) for r in records],
                "blobs": drawing_files,
            }
        )
    )
    return path, world


_WORDS = (
    "replaced",
    "fan",
    "psu",
    "failed",
    "amber",
    "led",
    "customer",
    "informed",
    "old",
    "part",
    "bagged",
    "rma",
    "tested",
    "ok",
    "rack",
    "cable",
    "reseated",
    "firmware",
    "checked",
    "noisy",
    "bearing",
    "warranty",
    "spare",
    "van",
    "left",
    "on",
    "site",
    "logs",
    "attached",
    "power",
)


def notes(i: int) -> str:
    """80 characters of varied, word-like text (deterministic per record, like the peer's)."""
    rng = random.Random(i)
    text = ""
    while len(text) < 80:
        text += rng.choice(_WORDS) + " "
    return text[:80]


def part_swap(i: int, job_id: str, equipment_id: str, sku: str) -> PartSwap:
    return PartSwap(
        equipment_id=equipment_id, sku=sku, serial_out=f"OUT-{i:09d}", serial_in=f"IN-{i:09d}", qty=1, notes=notes(i)
    )


def seed_events(data_dir: Path, world: World, n: int, author: str = ENGINEER_ID) -> None:
    """Put ``n`` part-swap events on the engineer's jobs straight into a closed server store
    (``server.storage.records.put_many``), as if pushed earlier: the data set for pull figures."""
    from sync_protocol.hlc import encode as hlc

    from .database import open_store

    db = open_store(data_dir)
    try:
        base_ms = int(_T0.timestamp() * 1000) + 3_600_000
        rng = random.Random(11)
        chunk = 20_000
        from server.storage import records as store

        for start in range(0, n, chunk):
            batch = []
            for i in range(start, min(n, start + chunk)):
                job = world.jobs[i % len(world.jobs)]
                ms = base_ms + i
                batch.append(
                    JobEvent(
                        id=uuid7(ms=ms, rand=rng.randbytes(10)),
                        job_id=job,
                        author=author,
                        device_id="0193f1c2-0000-7000-8000-000000000001",
                        hlc=hlc(ms, 0),
                        at=dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc),
                        payload=part_swap(i, job, world.job_equipment[job], world.skus[i % min(50, len(world.skus))]),
                    )
                )
            db.write(lambda c, b=batch: store.put_many(c, b))
    finally:
        db.close()


def enrollment_tokens(data_dir: Path, user_id: str, count: int) -> list[str]:
    """One-time enrollment tokens for an existing user (what ``field-server user add`` prints)."""
    from server import auth

    from .database import open_store

    db = open_store(data_dir)
    try:
        return db.write(lambda c: [auth.create_enrollment(c, user_id) for _ in range(count)])  # type: ignore[no-any-return]
    finally:
        db.close()


def many_enrollment_tokens(data_dir: Path, user_ids: list[str]) -> list[str]:
    from server import auth

    from .database import open_store

    db = open_store(data_dir)
    try:
        return db.write(lambda c: [auth.create_enrollment(c, uid) for uid in user_ids])  # type: ignore[no-any-return]
    finally:
        db.close()


def init_store(data_dir: Path, fixture: Path) -> dict[str, Any]:
    """``field-server init`` and ``field-server load-fixtures``, as an operator would (on the
    run's backend: ``bench/database.py``)."""
    from .database import prepare

    prepare(data_dir)
    cli("init", "--data", str(data_dir))
    return cli("load-fixtures", "--data", str(data_dir), str(fixture))  # type: ignore[no-any-return]


def checkpoint(db_file: Path) -> None:
    """Fold the WAL into the main file so a store can be copied as one file."""
    import sqlite3

    if db_file.exists():
        conn = sqlite3.connect(str(db_file))
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def snapshot_store(src: Path, dst: Path) -> Path:
    """Copy a server data directory whose server is running: files as they are, the store in
    one consistent snapshot (``bench/database.py``)."""
    from .database import copy_data

    return copy_data(src, dst, live=True)


def copy_server(src: Path, dst: Path) -> Path:
    """Copy a server data directory whose server is stopped, store included."""
    from .database import copy_data

    return copy_data(src, dst)


def copy_tree(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def record_events_fast(client: Any, world: World, count: int, start: int = 0, per_tx: int = 10_000) -> None:
    """Record ``count`` part swaps into a laptop's outbox through ``field_client.outbox.append``
    (the function ``FieldClient.record_event`` ends in), ``per_tx`` per local transaction.

    ``record_event`` itself also re-reads all events of the job for the backup rule, which
    at 100,000 events on 200 jobs makes recording quadratic; recording is not what the push
    figure measures, so the outbox is filled this way.
    """
    from field_client import outbox
    from field_client.store import get_meta

    def work(conn: Any, lo: int, hi: int) -> None:
        user, device = get_meta(conn, "user_id"), get_meta(conn, "device_id")
        now = dt.datetime.now(dt.timezone.utc)
        for i in range(lo, hi):
            job = world.jobs[i % len(world.jobs)]
            payload = part_swap(i, job, world.job_equipment[job], world.skus[i % min(50, len(world.skus))])
            outbox.append(
                conn,
                lambda seq, hlc, job=job, payload=payload: AppendEvent(
                    seq=seq,
                    hlc=hlc,
                    event=JobEvent(
                        id=uuid7(), job_id=job, author=user, device_id=device, hlc=hlc, at=now, payload=payload
                    ),
                ),
            )

    for lo in range(start, start + count, per_tx):
        hi = min(start + count, lo + per_tx)
        client.store.write(lambda c, lo=lo, hi=hi: work(c, lo, hi))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result
