"""Server and CLI processes forked from a parent that has already imported them.

Every ``field-server serve`` and every ``field`` / ``field-server`` command a test runs is a
process of its own, as it is in production: its own pid, environment, working directory, output
and exit status, stopped by a signal like any other. What a forked one is spared is the second of
CPU a fresh interpreter spends importing litestar, uvicorn, psycopg and our packages before it
does anything: a ``make test`` starts about two thousand of them on 2 cores, and that import was
the largest share of the suite's time.

The *zygote* is a small process, one per pytest worker, that imports those modules once and then
forks a child per order it reads on its stdin. The child runs the command's ``main(argv)`` in a
clean state (nothing ran in the zygote but imports) with the order's environment, directory and
output files, then exits with its status, running the interpreter's exit handlers as a fresh
process would. The test process makes itself a *child subreaper* (Linux ``prctl``), and the zygote
forks twice, so that the command's process is reparented to the test process: the test waits for
it, reads its exit status and signals it as it would a ``subprocess.Popen`` (``Forked``).

Where that cannot be done (not Linux, ``FIELDSYNC_NO_ZYGOTE=1``) ``available()`` is False and the
harness starts fresh interpreters as before; the README's own commands are always run fresh
(tests/e2e/test_readme.py, test_demo.py).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[2]

# The commands a zygote can run: ``python -m MODULE ARGS`` as ``MODULE.main(ARGS)``.
MODULES = ("server.cli", "field_client.cli")
# Imported in the zygote besides MODULES: what ``serve`` and the storage backends import at run time.
WARM = (
    "server.app",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    "psycopg",
    "psycopg_pool",
    "apscheduler.schedulers.background",
    "server.storage.postgres",
    "server.storage.sqlite",
    "litestar.plugins.pydantic",  # litestar adds it at each app's start when pydantic is installed
    "litestar.plugins.attrs",
    "litestar._kwargs",
    "litestar.logging.standard",
    "litestar.middleware.allowed_hosts",
    "litestar.middleware.response_cache",
    "litestar.exceptions.responses",
    "litestar.middleware._internal.exceptions",
)
PR_SET_CHILD_SUBREAPER = 36


class Forked:
    """A process forked by the zygote and reparented to this one: ``subprocess.Popen``'s
    ``pid``, ``returncode``, ``poll``, ``wait``, ``send_signal``, ``terminate`` and ``kill``."""

    def __init__(self, pid: int, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit, woken by it (a pidfd, Linux 5.3+) rather than polling for it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        exited = self._exit_signal()
        try:
            pause = 0.002
            while self.poll() is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                if exited is not None:
                    select.select([exited], [], [], left)
                else:
                    time.sleep(pause if left is None else min(pause, left))
                    pause = min(pause * 2, 0.05)
        finally:
            if exited is not None:
                os.close(exited)
        assert self.returncode is not None
        return self.returncode

    def _exit_signal(self) -> int | None:
        """A file descriptor that becomes readable when the process exits, where there is one."""
        if self.returncode is not None or not hasattr(os, "pidfd_open"):
            return None
        try:
            return os.pidfd_open(self.pid)
        except OSError:
            return None

    def send_signal(self, sig: int) -> None:
        # Until it is waited for, the pid is ours (a zombie at worst): never another process's.
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The test side: starts the zygote, sends it orders, gets back reparented children."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.zygote"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        assert self._proc.stdout is not None
        if self._proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the zygote did not start")

    def spawn(
        self,
        module: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stdout: Path,
        stderr: Path,
    ) -> Forked:
        """``python -m MODULE ARGS`` in a forked child, its output appended to the two files."""
        order = {
            "module": module,
            "args": list(args),
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        with self._lock:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(order).encode() + b"\n")
                self._proc.stdin.flush()
                reply = self._proc.stdout.readline()
            except BrokenPipeError:
                reply = b""
        if not reply:
            raise RuntimeError(f"the zygote exited ({self._proc.poll()})")
        return Forked(int(reply), [sys.executable, "-m", module, *args])

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def _become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def available() -> bool:
    """Whether commands can be forked here (else the harness starts fresh interpreters)."""
    return os.environ.get("FIELDSYNC_NO_ZYGOTE") != "1" and sys.platform.startswith("linux")


def zygote() -> Zygote:
    """This process's zygote, started on first use (again if the last one died: one lost zygote
    must not fail every later test of its worker) and stopped when the process exits."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive:
            if _zygote is None and not _become_subreaper():
                raise RuntimeError("cannot become a child subreaper: set FIELDSYNC_NO_ZYGOTE=1")
            _zygote = Zygote()
            atexit.register(_zygote.close)
        return _zygote


# --- the zygote itself ------------------------------------------------------------------------


def _child(order: dict[str, Any]) -> None:
    """In the forked child: become the command, run it, exit as a fresh interpreter would."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    for target, path, how in ((0, os.devnull, os.O_RDONLY), (1, order["stdout"], flags), (2, order["stderr"], flags)):
        opened = os.open(path, how, 0o644)
        os.dup2(opened, target)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    os.chdir(order["cwd"])
    os.environ.clear()
    os.environ.update(order["env"])
    module = sys.modules[order["module"]]
    sys.argv = [str(module.__file__), *order["args"]]
    try:
        code = module.main(order["args"])
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(int(code or 0))


def _serve() -> None:
    """The zygote's loop: one JSON order per line on stdin, the command's pid back on stdout."""
    import importlib

    for name in (*MODULES, *WARM):
        importlib.import_module(name)
    orders, replies = sys.stdin.buffer, sys.stdout.buffer
    replies.write(b"ready\n")
    replies.flush()
    for line in orders:
        order = json.loads(line)
        read_pid, write_pid = os.pipe()
        middle = os.fork()
        if middle == 0:  # the middle child: forks the command and exits, orphaning it to the test
            os.close(read_pid)
            command = os.fork()
            if command == 0:
                os.close(write_pid)
                _child(order)
            os.write(write_pid, f"{command}\n".encode())
            os._exit(0)
        os.close(write_pid)
        with os.fdopen(read_pid, "rb") as pipe:
            pid = pipe.readline()
        os.waitpid(middle, 0)  # reparenting happens as the middle child exits: before this returns
        replies.write(pid)
        replies.flush()


if __name__ == "__main__":
    _serve()
