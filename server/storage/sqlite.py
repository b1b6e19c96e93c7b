"""SQLite access: one writer, per-thread readers (the shape of datasette's ``database.py``).

SQLite in WAL mode allows many readers and one writer. A deferred transaction that reads and
then writes fails at once when another connection writes, busy timeout or not, so every write
goes through ``Database.write``: one connection, one lock, ``BEGIN IMMEDIATE``, and the whole
function in one transaction. Readers get their own read-only connection per thread and see a
consistent snapshot for the duration of ``Database.read``.

``synchronous=NORMAL`` in WAL mode never loses a committed transaction when the process
crashes (it may lose the last ones on power loss); ``Database(path, durable=True)`` selects
``FULL`` for machines where power loss matters more than write latency.

The WAL is copied back into the database file by a thread of its own (``Checkpointer``), not by
whichever commit crosses SQLite's 1,000-page mark: that commit used to pay the copy and its
fsync, 10-13 ms on top of a 1 ms commit, once every few pushes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_QUIET_S = 0.02  # a checkpoint waits for the writer to be this long without a commit
CHECKPOINT_WAIT_S = 1.0  # but no longer than this after a commit: the WAL's growth stays bounded


class Connection(sqlite3.Connection):
    """A connection that can hold state for the one write transaction ``Database.write`` has
    open on it (``transaction``: a dict during the transaction, None otherwise), and run
    ``before_commit`` callbacks: the store keeps its version counter there (``store.py``)
    instead of updating a row for every record written."""

    dialect = "sqlite"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transaction: dict[str, Any] | None = None
        self.before_commit: list[Callable[["Connection"], None]] = []

    def lock_change_log(self) -> None:
        """Nothing to do: the one writer already appends to the change log alone."""


def connect(path: str | Path, readonly: bool = False, durable: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every fieldsync connection needs."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            factory=Connection,
        )
    else:
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, factory=Connection
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        # Each pushed mutation runs in a savepoint, whose undo copies of pages went to a temp
        # file: a third of a push. In memory they cost nothing that matters, and so do the
        # scope tables a pull materialises. Durability is the WAL's business, not theirs.
        conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class Checkpointer:
    """Copies committed WAL frames into the database file in the background.

    The writer turns SQLite's automatic checkpoint off and calls ``nudge`` after each commit;
    this thread then runs a PASSIVE checkpoint (it never blocks the writer or a reader) once the
    writer has been quiet for ``CHECKPOINT_QUIET_S``, so as not to compete with a burst of
    commits for the CPU, or ``CHECKPOINT_WAIT_S`` after a commit under steady load. Crash
    safety is SQLite's either way: a checkpoint cut short is redone from the WAL at the next
    open. The thread starts on the first nudge, so a command that only reads never starts one."""

    def __init__(self, path: Path, durable: bool) -> None:
        self.path, self.durable = path, durable
        self._wake, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn = connect(self.path, durable=self.durable)
        try:
            while True:
                self._wake.wait()
                due = time.monotonic() + CHECKPOINT_WAIT_S
                while self._wake.is_set() and time.monotonic() < due:
                    self._wake.clear()
                    if self._stop.wait(CHECKPOINT_QUIET_S):  # a commit meanwhile sets _wake again
                        return
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()


class Database:
    """The server's store: ``write(fn)`` and ``read(fn)`` each run ``fn(conn)`` in one transaction."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, durable: bool = False) -> None:
        self.path = Path(path)
        self.durable = durable
        self._writer: Connection = connect(self.path, durable=durable)  # type: ignore[assignment]
        self._writer.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
        self._checkpointer = Checkpointer(self.path, durable)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one IMMEDIATE transaction on the single writer connection."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            conn.transaction, conn.before_commit = {}, []
            try:
                result = fn(conn)
                for callback in conn.before_commit:
                    callback(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.transaction, conn.before_commit = None, []
            conn.execute("COMMIT")
        self._checkpointer.nudge()
        return result

    def exclusive(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer connection with no transaction open: for migrations,
        which commit one transaction per step themselves."""
        with self._write_lock:
            return fn(self._writer)

    def migrate(self) -> int:
        """Bring the store's schema up to date; returns the version it started at."""
        from .schema import migrate

        return self.exclusive(migrate)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on this thread's read-only connection, inside one snapshot."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def glance(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, which reads with ONE statement, on this thread's read-only connection with
        no transaction around it: one statement reads one snapshot by itself, so the BEGIN and
        COMMIT of ``read`` buy nothing (what every sync request's authentication and the
        up-to-date pull do, on the event loop)."""
        return fn(self._reader())

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def backup(self, dest: str | Path) -> int:
        """Copy the store to ``dest`` while the server goes on writing: SQLite's online backup
        API, in one step, from a connection of its own. One step reads one snapshot (a WAL
        reader), so the copy is consistent: every transaction committed before the copy began
        is in it, none after, and writers are never blocked. The copy is written under a
        temporary name and renamed when complete: a ``dest`` that exists is a whole copy.
        Returns the copy's size in bytes."""
        dest = Path(dest)
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        source = connect(self.path, readonly=True)
        target = sqlite3.connect(str(partial))
        try:
            source.backup(target)  # pages=-1: the whole store in one step, one snapshot
            target.execute("PRAGMA journal_mode=WAL")  # as the server opens it
        finally:
            target.close()
            source.close()
        partial.replace(dest)
        return dest.stat().st_size

    def close(self) -> None:
        self._checkpointer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
