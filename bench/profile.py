"""Where the time goes: cProfile of the server's push and pull code and of the client's sync.

    python -m bench.profile push  [N]   # server.push.push on N part swaps, in process
    python -m bench.profile push-sql [N]  # the same, time per SQL statement instead of per function
    python -m bench.profile pull  [N]   # server.pull.pull + pull_page.encode_page, a first pull of N
    python -m bench.profile client-push [N]  # the laptop side of a push against a real server
    python -m bench.profile client-pull [N]  # the laptop side of a first pull against a real server
    python -m bench.profile noop        # one no-op FieldClient.sync() x 200, client side
    python -m bench.profile spy FILE... # summarise py-spy stacks of a server (BENCH_PYSPY=DIR
                                        # makes every benchmark server record them)

The server-side profiles call the very functions the HTTP handlers call (``push.push`` inside
``Database.write``, ``pull.pull`` then ``encode_page``), on a store made exactly as the
benchmark makes it, without uvicorn and litestar around them (their share is the difference
between the benchmark's figure and these profiles). Output: the top functions by cumulative
and by own time, written to ``var/bench/profile-<what>.txt`` and printed.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .common import ENGINEER_ID, ROOT, Settings, ServerProcess

from .datasets import checkpoint, copy_tree


def _report(profile: cProfile.Profile, what: str, extra: str) -> str:
    out = io.StringIO()
    out.write(extra + "\n")
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs()
    out.write("\n=== by cumulative time ===\n")
    stats.sort_stats("cumulative").print_stats(35)
    out.write("\n=== by own time ===\n")
    stats.sort_stats("tottime").print_stats(30)
    text = out.getvalue()
    path = ROOT / "var" / "bench" / f"profile-{what}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def _push_batches(n: int, work: Path) -> tuple[Path, list[Any], Any]:
    """A server store and N part swaps as push batches, made as the benchmark makes them, with
    the enrolled device as the principal that pushes them: (data dir, batches, principal)."""
    from field_client import outbox
    from field_client.store import LocalStore
    from server.auth import Principal
    from server.storage import Database
    from sync_protocol import MAX_PUSH_BATCH, PushRequest

    from . import push as push_bench

    settings = Settings(n=n, push_n=n, runs=1)
    data, home, _, _ = push_bench.make_template(settings, work / "template")
    data = copy_tree(data, work / "server")
    laptop = LocalStore(home / "field.db")
    pending = laptop.read(lambda c: outbox.pending(c))
    laptop.close()
    batches = [
        PushRequest(mutations=[p.mutation for p in pending[i : i + MAX_PUSH_BATCH]])
        for i in range(0, len(pending), MAX_PUSH_BATCH)
    ]
    db = Database(data / "fieldsync.db")
    device = db.read(lambda c: c.execute("SELECT id FROM devices WHERE user_id=?", (ENGINEER_ID,)).fetchone()[0])
    db.close()
    return data, batches, Principal(ENGINEER_ID, "bench-eng", "Bench bench-eng", "engineer", device)


def profile_server_push(n: int, work: Path) -> str:
    from server import push
    from server.storage import Database

    data, batches, who = _push_batches(n, work)
    db = Database(data / "fieldsync.db")
    clock = push.ServerClock()
    profile = cProfile.Profile()
    times = []
    for request in batches:
        t0 = time.perf_counter()
        profile.enable()
        db.write(lambda c, r=request: push.push(c, who, r, clock))
        profile.disable()
        times.append(time.perf_counter() - t0)
    db.close()
    head = (
        f"server push.push, {n} part swaps in {len(batches)} batches: {sum(times):.2f} s under "
        f"cProfile; per batch (s): {', '.join(f'{t:.2f}' for t in times)}"
    )
    return _report(profile, "push", head)


class _TimedConnection:
    """A connection whose ``execute``/``executemany`` time themselves, by statement text."""

    def __init__(self, conn: Any, stats: dict[str, list[float]]) -> None:
        self._conn, self._stats = conn, stats

    def _timed(self, call: Any, sql: str, args: tuple[Any, ...], label: str) -> Any:
        t0 = time.perf_counter()
        result = call(sql, *args)
        entry = self._stats.setdefault(label + " ".join(sql.split())[:80], [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - t0
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed(self._conn.execute, sql, args, "")

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed(self._conn.executemany, sql, args, "MANY ")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def profile_server_push_sql(n: int, work: Path) -> str:
    """Where a push's SQLite time goes, per statement: the first batch of N part swaps."""
    from server import push
    from server.storage import Database

    data, batches, who = _push_batches(n, work)
    db = Database(data / "fieldsync.db")
    stats: dict[str, list[float]] = {}
    request = batches[0]
    t0 = time.perf_counter()
    db.write(lambda c: push.push(_TimedConnection(c, stats), who, request, push.ServerClock()))  # type: ignore[arg-type]
    total = time.perf_counter() - t0
    db.close()
    count = len(request.mutations)
    lines = [
        f"server push.push, one batch of {count} part swaps: {total:.2f} s, "
        f"{total / count * 1e6:.0f} us per swap, of which SQL "
        f"{sum(t for _, t in stats.values()) / count * 1e6:.0f} us",
        "",
        "  us/swap    calls  statement",
    ]
    for sql, (calls, spent) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:20]:
        lines.append(f"{spent / count * 1e6:9.1f} {calls:8d}  {sql}")
    text = "\n".join(lines)
    path = ROOT / "var" / "bench" / "profile-push-sql.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return text


def profile_server_pull(n: int, work: Path) -> str:
    from server import pull
    from server.auth import Principal
    from server.storage import Database
    from server.pull_page import encode_page
    from sync_protocol import MSGPACK, PullRequest

    from . import pull as pull_bench

    settings = Settings(n=n, push_n=n, runs=1)
    template = pull_bench.make_template(settings, work / "template", devices=1)
    data, tokens = template.data, template.tokens
    with ServerProcess(data) as server:  # enroll one device through the real endpoint
        from field_client import FieldClient

        client = FieldClient(work / "laptop")
        client.login(server.url, tokens[0])
        device = client.status()["device_id"]
        client.close()
    checkpoint(data / "fieldsync.db")
    db = Database(data / "fieldsync.db")
    secret = db.read(lambda c: c.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0])
    who = Principal(ENGINEER_ID, "bench-eng", "Bench bench-eng", "engineer", device)
    profile = cProfile.Profile()
    cursor, pages, records, t_total = None, 0, 0, 0.0
    while True:
        t0 = time.perf_counter()
        profile.enable()
        rows = db.write(lambda c: pull.pull(c, who, PullRequest(cursor=cursor, limit=5000), secret))
        body = encode_page(rows, "0193f1c2a4b00000", MSGPACK)
        profile.disable()
        t_total += time.perf_counter() - t0
        pages += 1
        records += len(rows.upserts)
        cursor = rows.cursor
        if not rows.more:
            break
    db.close()
    head = (
        f"server pull.pull + encode_page: {records} records in {pages} pages, {t_total:.2f} s under cProfile "
        f"({len(body)} B last page)"
    )
    return _report(profile, "pull", head)


def _costs(t0: float, c0: float, server: ServerProcess, s0: float) -> str:
    """Wall time, this process's CPU (the client, under cProfile) and the server process's CPU."""
    return (
        f"{time.perf_counter() - t0:.2f} s wall, client {time.process_time() - c0:.2f} CPU-s "
        f"(under cProfile), server {server.cpu_seconds() - s0:.2f} CPU-s"
    )


def _profiled_step(profile: cProfile.Profile, server: ServerProcess, client: Any, step: Any) -> tuple[Any, str]:
    """``say_hello`` then ``step`` (``push_outbox`` or ``pull_scope``) under the profiler, as
    ``FieldClient.sync`` runs them; closes the client. Returns the report and what it cost."""
    from field_client.report import SyncReport
    from field_client.sync import say_hello

    transport = client.transport()
    t0, c0, s0 = time.perf_counter(), time.process_time(), server.cpu_seconds()
    profile.enable()
    report = SyncReport()
    step(client.store, transport, say_hello(client.store, transport), report)
    profile.disable()
    costs = _costs(t0, c0, server, s0)
    transport.close()
    client.close()
    return report, costs


def profile_client(what: str, n: int, work: Path) -> str:
    from field_client import FieldClient
    from field_client.store import set_meta
    from field_client.pulling import pull_scope
    from field_client.sync import push_outbox

    from . import pull as pull_bench
    from . import push as push_bench
    from .common import CountingTransport, median

    settings = Settings(n=n, push_n=n, runs=1)
    profile = cProfile.Profile()
    if what == "client-push":
        data, home, _, _ = push_bench.make_template(settings, work / "template")
        with ServerProcess(data) as server:
            client = FieldClient(home, timeout=600)
            client.store.write(lambda c: set_meta(c, "server_url", server.url))
            report, costs = _profiled_step(profile, server, client, push_outbox)
            head = f"client side of a push of {report.pushed}: {costs}"
    elif what == "client-pull":
        template = pull_bench.make_template(settings, work / "template", devices=1)
        data, tokens = template.data, template.tokens
        with ServerProcess(data) as server:
            client = FieldClient(work / "laptop", timeout=600)
            client.login(server.url, tokens[0])
            report, costs = _profiled_step(profile, server, client, pull_scope)
            head = f"client side of a first pull of {report.pulled}: {costs}"
    else:  # noop
        template = pull_bench.make_template(settings, work / "template", devices=1)
        data, tokens = template.data, template.tokens
        with ServerProcess(data) as server:
            counter = CountingTransport()
            client = FieldClient(work / "laptop", timeout=600, http=counter)
            client.login(server.url, tokens[0])
            client.sync()
            commits = 0
            write = client.store.write

            def counted(fn):  # type: ignore[no-untyped-def]
                nonlocal commits
                commits += 1
                return write(fn)

            client.store.write = counted  # type: ignore[method-assign]
            counter.reset()
            plain = []
            for _ in range(50):  # without the profiler first: the figure the benchmark sees
                t0 = time.perf_counter()
                client.sync()
                plain.append((time.perf_counter() - t0) * 1000)
            per_sync = (counter.requests / 50, commits / 50)
            t0 = time.perf_counter()
            profile.enable()
            for _ in range(200):
                client.sync()
            profile.disable()
            head = (
                f"client side of a no-op FieldClient.sync(): {median(plain):.2f} ms median of 50 "
                f"(min {min(plain):.2f}), {per_sync[0]:g} requests and {per_sync[1]:g} local commits "
                f"each; 200 more under cProfile: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms each"
            )
            client.close()
    return _report(profile, what, head)


_IDLE = frozenset(
    {
        "Condition.wait",
        "_worker",
        "EpollSelector.select",
        "Queue.get",
        "Event.wait",
        "select",
        "WorkerThread.run",
        "Thread.run",
    }
)


def summarize_spy(paths: list[Path], top: int = 30) -> str:
    """Top functions of py-spy collapsed stacks (``BENCH_PYSPY=DIR``): own and inclusive share."""
    import re
    from collections import Counter

    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    strip = re.compile(r"\s*\(([^)]*/)?([^/)]+?)(:\d+)?\)$")
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [
                strip.sub(lambda m: f" ({m.group(2)})", f)
                for f in stack.split(";")
                if "(" in f and not f.startswith(("process ", "thread "))
            ]
            if not frames or frames[-1].split(" (")[0] in _IDLE:
                continue  # a thread waiting for work, not doing any
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                incl[frame] += n
    out = [
        f"py-spy: {total} busy samples (idle waits left out) from {', '.join(p.name for p in paths)}",
        "",
        "== own time ==",
    ]
    out += [f"{n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out += ["", "== inclusive =="]
    out += [f"{n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "push"
    if what == "spy":
        print(summarize_spy([Path(p) for p in argv[1:]]))
        return 0
    n = int(argv[1]) if len(argv) > 1 else 20_000
    work = ROOT / "var" / "bench" / f"profile-work-{what}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        if what == "push":
            text = profile_server_push(n, work)
        elif what == "push-sql":
            text = profile_server_push_sql(n, work)
        elif what == "pull":
            text = profile_server_pull(n, work)
        elif what in ("client-push", "client-pull", "noop"):
            text = profile_client(what, n, work)
        else:
            print(__doc__)
            return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
