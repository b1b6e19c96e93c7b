"""A real server process on 127.0.0.1 and real field clients: the end-to-end harness.

Every server a test starts is stopped by the test (``LiveServer`` is a context manager and
the fixture stops it even when the test fails). Administration goes through the real
``field-server`` command line, the way an operator would do it. The pytest fixtures over these
helpers are in ``tests/support/fixtures.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx

from server.process import Process, ServerProcess

from . import zygote
from .databases import database_of

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "fixtures" / "demo" / "data.json"


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Any]:
    """A read-only look at a SQLite store (a server's or a laptop's), closed on the way out,
    for assertions made while another process may be writing to it. A server's store whose
    data directory names a PostgreSQL database (``databases.use_database``) is read there,
    the SQL rewritten as the server's own is (rows by position or by name alike)."""
    url = database_of(path.parent) if path.name == "fieldsync.db" else None
    if url:
        import psycopg

        from server.storage.postgres import PgTx, row_factory

        with psycopg.connect(url, autocommit=True, row_factory=row_factory) as pg:
            yield PgTx(pg, writing=False)
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False): for what another
    process or thread does in its own time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def _english(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with the terminal's language set to English (``LANG=C.UTF-8``), so that
    a test reading the CLI's words reads the same words on every machine; a test of another
    language passes its own ``LANG``."""
    keep = {k: v for k, v in environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    return {**keep, "LANG": "C.UTF-8"}


# The project's console commands and the modules ``python -m`` runs them as, from the one
# place that names them: pyproject's [project.scripts], as installed.
COMMANDS = {name: entry_points(group="console_scripts", name=name)[name].module for name in ("field", "field-server")}


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a console command of this project (``field`` or ``field-server``) with this Python."""
    program, *rest = args
    module = COMMANDS[program]
    environ = {**_english(os.environ), **(env or {})}
    if zygote.available():
        proc = _forked_cli(module, rest, environ, timeout)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", module, *rest],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=environ,
        )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _forked_cli(module: str, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(capture_output=True, text=True)`` of a command forked by the zygote."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        proc = zygote.zygote().spawn(module, args, env=env, cwd=ROOT, stdout=out, stderr=err)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        text = {p: p.read_text(encoding="utf-8", errors="replace") if p.exists() else "" for p in (out, err)}
    return subprocess.CompletedProcess(proc.args, code, text[out], text[err])


def start_cli(*args: str) -> Process:
    """A console command of this project started, not waited for (its output discarded): for
    tests that kill it mid-way. Forked by the zygote where it can, as ``run_cli``'s are."""
    program, *rest = args
    module = COMMANDS[program]
    environ = _english(os.environ)
    if zygote.available():
        null = Path(os.devnull)
        return zygote.zygote().spawn(module, rest, env=environ, cwd=ROOT, stdout=null, stderr=null)
    return subprocess.Popen(
        [sys.executable, "-m", module, *rest],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cli_json(*args: str, **kwargs: Any) -> Any:
    return json.loads(run_cli(*args, "--json", **kwargs).stdout)


class LiveServer(ServerProcess):
    """``field-server serve`` in a subprocess, on a free loopback port.

    The scheduled jobs stay off (``--no-scheduler``) unless ``scheduler=True``: three demo jobs
    are overdue on purpose (and the others fall due as the session runs), and an SLA watch
    escalating jobs under a test that is not about it would make that test depend on timing."""

    def __init__(
        self, data_dir: Path, scheduler: bool = False, port: int | None = None, blobs: str | None = None
    ) -> None:
        args = ([] if scheduler else ["--no-scheduler"]) + ([] if blobs is None else ["--blobs", blobs])
        super().__init__(data_dir, args=args, port=port)
        self.scheduler = scheduler

    def start(self, timeout: float = 90.0) -> "LiveServer":
        """Start and wait until it answers: a long wait, because the suite runs on several
        workers (pyproject.toml) and a server starting on a loaded machine is slow, not broken."""
        super().start(timeout)
        return self

    def stop(self, grace: float = 10.0) -> None:
        super().stop(grace)

    def spawn(self) -> Process:
        """Forked by the zygote (tests/support/zygote.py) where it can: the same ``field-server
        serve``, spared the second of imports a fresh interpreter spends."""
        program = self.command[1:3]
        if not zygote.available() or program != ["-m", "server.cli"]:
            return super().spawn()
        return zygote.zygote().spawn(
            "server.cli", self.command[3:], env=os.environ, cwd=ROOT, stdout=self.log, stderr=self.log
        )

    def __enter__(self) -> "LiveServer":
        return self.start()

    # --- administration, through the real CLI ---------------------------------------------

    def enrollment(self, name: str, role: str = "engineer") -> str:
        """A one-time enrollment token: a pre-made one of the template if left, else the CLI's."""
        pool = self.data_dir.parent / "tokens.json"
        tokens = json.loads(pool.read_text()) if pool.exists() else {}
        if DEMO_USERS.get(name) == role and tokens.get(name):
            token = tokens[name].pop()
            pool.write_text(json.dumps(tokens))
            return str(token)
        return str(
            cli_json("field-server", "user", "add", name, "--role", role, "--data", str(self.data_dir))[
                "enrollment_token"
            ]
        )

    def db(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A read-only look at the server's store, for assertions."""
        return read_only(self.data_dir / "fieldsync.db")

    def records(self, entity: str) -> dict[str, dict[str, Any]]:
        with self.db() as conn:
            rows = conn.execute("SELECT id, data FROM records WHERE entity=? AND deleted=0", (entity,)).fetchall()
        return {r["id"]: json.loads(r["data"]) for r in rows}


# Users of the demo fixtures and their roles; the template pre-makes enrollment tokens for them.
DEMO_USERS = {
    "li-wei": "engineer",
    "zhang-min": "engineer",
    "wang-fang": "engineer",
    "chen-jing": "dispatcher",
    "zhao-lei": "supervisor",
}
TOKENS_PER_USER = 3


# --- laptops and office devices -----------------------------------------------------------


class Wire(httpx.BaseTransport):
    """The real HTTP transport with hooks on both sides: the one true boundary tests bend (a
    connection cut before a request leaves, an answer lost after the server acted, a stream cut
    half way). ``log`` keeps (method, path, request body size, Range header) of each request
    that reached the server."""

    def __init__(self, on_response: Any = None, before: Any = None) -> None:
        self._inner = httpx.HTTPTransport()
        self.on_response = on_response
        self.before = before
        self.log: list[tuple[str, str, int, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None:
            self.before(request)
        response = self._inner.handle_request(request)
        self.log.append((request.method, request.url.path, len(request.content), request.headers.get("range")))
        if self.on_response is not None:
            return self.on_response(request, response)  # type: ignore[no-any-return]
        return response

    def close(self) -> None:
        self._inner.close()

    def calls(self, method: str, prefix: str) -> list[tuple[str, str, int, str | None]]:
        return [c for c in self.log if c[0] == method and c[1].startswith(prefix)]


def office(server: LiveServer, name: str = "chen-jing", role: str = "dispatcher") -> httpx.Client:
    """An httpx client holding a dispatcher's device token (JSON bodies)."""
    token = server.enrollment(name, role)
    reply = httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": token}, timeout=10)
    reply.raise_for_status()
    return httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {reply.json()['device_token']}"}
    )


def office_patch(server: LiveServer, entity: str, record_id: str, base_version: int, **fields: Any) -> str:
    """A dispatcher edits a record as it stood at ``base_version`` (one patch pushed over HTTP,
    as the office's own device would); returns the patch's status (``applied``, ``merged``...)."""
    from sync_protocol.hlc import Clock

    mutation = {
        "op": "patch",
        "seq": 1,
        "hlc": Clock().tick(),
        "entity": entity,
        "id": record_id,
        "base_version": base_version,
        "fields": fields,
    }
    with office(server) as dispatcher:
        answer = dispatcher.post("/sync/v1/push", json={"mutations": [mutation]})
    answer.raise_for_status()
    return str(answer.json()["results"][0]["status"])


def approve_paid_work(client: Any, job_id: str, *skus: str) -> None:
    """The customer approves a quote for the parts: the demo jobs are out of warranty."""
    from sync_protocol import CustomerApproval, Quote, QuoteLine

    quote = client.record_event(job_id, Quote(lines=[QuoteLine(sku=sku) for sku in skus]))
    client.record_event(job_id, CustomerApproval(quote_event_id=quote.id, approved_by="王建国"))


# A push mutation that is valid on the demo data (a note on J-0001), for tests of bad input to vary.
VALID_EVENT = {
    "op": "event",
    "seq": 1,
    "hlc": "0193f1c2a4b00001",
    "event": {
        "entity": "event",
        "id": "0193f1c2-a4b0-7c11-9d2e-3f4a5b6c7d8e",
        "job_id": "J-0001",
        "hlc": "0193f1c2a4b00001",
        "at": "2026-11-25T09:30:00Z",
        "payload": {"kind": "note", "text": "x"},
    },
}


def snapshot(server: LiveServer) -> dict[str, list[tuple[Any, ...]]]:
    """Every table a request could write, to prove a refused one wrote nothing."""
    with server.db() as conn:
        return {
            table: [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
            for table in ("records", "applied", "blobs", "uploads", "users")
        } | {"devices": [tuple(r) for r in conn.execute("SELECT id, high_seq, revoked_at FROM devices")]}
