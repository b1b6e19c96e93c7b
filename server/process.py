"""``field-server serve`` as a child process, for the demo, the benchmarks and end-to-end tests.

Each of them needs the same three things: a free loopback port, a wait until ``/healthz``
answers (or the reason the server died, from its log), and a stop that always happens, even on
error: SIGTERM for a clean shutdown, SIGKILL if that hangs.

>>> with ServerProcess(data_dir) as server:     # doctest: +SKIP
...     httpx.get(f"{server.url}/healthz")
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol, Sequence

import httpx

ROOT = Path(__file__).resolve().parents[1]


class ServerNotStarted(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process(Protocol):
    """What a server's process must offer: ``subprocess.Popen``'s, or a test harness's own
    (tests/support/zygote.py forks servers from an already-imported parent)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


class ServerProcess:
    """``field-server serve --data DATA_DIR`` on 127.0.0.1 and a free port (or ``port``: a server
    restarted where its laptops know it), its output appended to ``log`` (by default
    ``server-<port>.log`` beside the data directory)."""

    def __init__(
        self, data_dir: Path, args: Sequence[str] = (), log: Path | None = None, port: int | None = None
    ) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or data_dir.parent / f"server-{self.port}.log"
        self.proc: Process | None = None
        # A port picked here may be taken by another process before the server binds it (tests
        # start servers on several workers at once): the first start may then pick another.
        self._may_move = port is None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--data",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not running"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        """Start the server and wait until it answers. Starting a running one again is refused:
        the first process would be orphaned, still holding its port, while ``/healthz`` answered
        for it made the second start look fine."""
        if self.running:
            raise RuntimeError(f"the server is already running (pid {self.pid})")
        self.proc = self.spawn()
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=0.5) as http:  # one client: each new one builds a TLS context
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    if self._may_move and "address already in use" in self._log_tail():
                        self._move()
                        return self.start(max(1.0, deadline - time.monotonic()))
                    raise ServerNotStarted(f"the server exited at start:\n{self._log_tail()}")
                if self._listening():
                    try:
                        if http.get(f"{self.url}/healthz").status_code == 200:
                            self._may_move = False  # laptops may know this port from now on
                            return self
                    except httpx.HTTPError:
                        pass
                time.sleep(0.02)
        self.stop()
        raise ServerNotStarted(f"the server did not answer within {timeout} s:\n{self._log_tail()}")

    def _move(self) -> None:
        """To another free port, once: the one picked was taken before the server bound it."""
        self._may_move = False
        self.proc = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def spawn(self) -> Process:
        """The server's process, ``command`` in a fresh interpreter, its output appended to ``log``."""
        with self.log.open("ab") as log:
            return subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=log)

    def _listening(self) -> bool:
        """Whether the port takes connections yet: a cheap test before asking ``/healthz``."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, for tests that prove nothing acknowledged is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> "ServerProcess":
        """``with ServerProcess(...)`` starts it; ``with server.start()`` keeps the one running."""
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
