"""What every figure shares: settings, the server process, counting HTTP, stats. The data sets
the figures run on are ``bench/datasets.py``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import httpx
import msgspec

from server.process import ServerProcess as BaseServerProcess

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


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result
