"""The laptop's SQLite file: the server's last known records, the outbox, and their answers.

Three things are kept apart so that a pull can never overwrite unsynced work:

- ``records``: the last version of each record the server sent, exactly as sent. A record the
  server took out of scope while the outbox still needed it stays, marked ``kept``.
- ``outbox``: every mutation recorded here and not yet answered, in ``seq`` order.
- ``answers``: what the server said about each pushed mutation (a refused one keeps its body,
  so nothing recorded on site is lost even when the server says no).

One connection, one lock, and every write is one ``BEGIN IMMEDIATE`` transaction: a laptop
killed at any instant reopens with either all of an action or none of it.
``synchronous=FULL`` because a laptop's battery can die at any moment and its writes are few.
The one exception is a pulled page that more pages follow (``write(..., durable=False)``): it
can always be asked for again, and ``field_client.sync`` makes it durable (``flush``) before
the server is told anything that depends on it.

>>> import tempfile, pathlib
>>> store = LocalStore(pathlib.Path(tempfile.mkdtemp()) / "field.db")
>>> store.write(lambda c: set_meta(c, "server_url", "http://127.0.0.1:8000"))
>>> store.read(lambda c: get_meta(c, "server_url"))
'http://127.0.0.1:8000'
>>> store.close()
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable, TypeVar

from .errors import StoreUnavailable

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000


def _v1(conn: sqlite3.Connection) -> None:
    import sqlite_utils  # only a new store needs it: keeps every `field` command quick to start

    db = sqlite_utils.Database(conn)
    db["records"].create(
        {"entity": str, "id": str, "version": int, "parent": str, "data": str, "kept": int},
        pk=("entity", "id"),
        not_null={"version", "data"},
        defaults={"kept": 0},
        strict=True,
    )
    db["records"].create_index(["entity", "parent"])
    db["outbox"].create(
        {
            "seq": int,
            "op": str,
            "entity": str,
            "record_id": str,
            "job_id": str,
            "hlc": str,
            "body": bytes,
            "created_at": str,
        },
        pk="seq",
        not_null={"op", "hlc", "body", "created_at"},
        strict=True,
    )
    db["outbox"].create_index(["job_id"])
    # Keyed by device too: a re-enrolled laptop starts a new seq space at 1.
    db["answers"].create(
        {
            "device_id": str,
            "seq": int,
            "op": str,
            "entity": str,
            "record_id": str,
            "job_id": str,
            "status": str,
            "reason": str,
            "field": str,
            "message": str,
            "version": int,
            "conflicts": str,
            "body": bytes,
            "answered_at": str,
        },
        pk=("device_id", "seq"),
        not_null={"status", "answered_at"},
        strict=True,
    )
    db["blobs"].create(
        {"sha256": str, "size": int, "media_type": str, "origin": str, "uploaded": int, "created_at": str},
        pk="sha256",
        defaults={"uploaded": 0},
        strict=True,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Look up a job's events (a site's equipment...) through an index, in id order.

    ``records`` is WITHOUT ROWID, clustered on (entity, id); with no statistics SQLite walked every
    event of the laptop to find one job's, so recording a part swap on a laptop holding 100,000
    records took seconds. The statistics describe the table's shape until an ``ANALYZE``."""
    conn.execute("CREATE INDEX IF NOT EXISTS records_by_parent ON records(entity, parent, id)")
    conn.execute("DROP INDEX IF EXISTS idx_records_entity_parent")  # the new one serves its queries
    conn.execute("ANALYZE sqlite_schema")
    conn.execute("DELETE FROM sqlite_stat1 WHERE tbl='records'")
    conn.executemany(
        "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES ('records', ?, ?)",
        [("records", "100000 12000 1"), ("records_by_parent", "100000 12000 8 1")],
    )
    conn.execute("ANALYZE sqlite_schema")


def _v3(conn: sqlite3.Connection) -> None:
    """Find the records kept for pending work without reading every record: each push answer
    asks. Only kept rows are in this index, so a pull hardly maintains it."""
    conn.execute("CREATE INDEX IF NOT EXISTS records_kept ON records(entity, id) WHERE kept=1")


def _v4(conn: sqlite3.Connection) -> None:
    """Find a serial without reading every event: recording a part swap checks that the serial
    going in is not installed elsewhere, and on a laptop holding 100,000 events that scan took
    two thirds of a second while the engineer waited. Partial indexes: only part swaps and
    equipment have serials."""
    for name, expression, entity in (
        ("records_serial_in", "$.payload.serial_in", "event"),
        ("records_serial_out", "$.payload.serial_out", "event"),
        ("records_equipment_serial", "$.serial", "equipment"),
    ):
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON records(json_extract(data, '{expression}')) WHERE entity='{entity}'"
        )


def _v5(conn: sqlite3.Connection) -> None:
    """The serials of migration 4 as columns the laptop fills from the record it decoded anyway
    (``replica.as_row``), instead of expression indexes: each of those parsed every event's JSON
    once more as it was stored, which was half the laptop's work per record in a first pull
    (an index update per part swap remains, and no JSON parsing). ``serial_in`` is what is
    installed: a part swap's serial in, or an equipment's own serial; ``serial_out`` a part
    swap's serial out."""
    conn.execute("ALTER TABLE records ADD COLUMN serial_in TEXT")
    conn.execute("ALTER TABLE records ADD COLUMN serial_out TEXT")
    conn.execute(
        "UPDATE records SET serial_in=json_extract(data, '$.payload.serial_in'), "
        "serial_out=json_extract(data, '$.payload.serial_out') "
        "WHERE entity='event' AND json_extract(data, '$.payload.kind')='part_swap'"
    )
    conn.execute("UPDATE records SET serial_in=json_extract(data, '$.serial') WHERE entity='equipment'")
    for name in ("records_serial_in", "records_serial_out", "records_equipment_serial"):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.execute("CREATE INDEX records_serial_in ON records(serial_in, entity) WHERE serial_in IS NOT NULL")
    conn.execute("CREATE INDEX records_serial_out ON records(serial_out) WHERE serial_out IS NOT NULL")


def _v6(conn: sqlite3.Connection) -> None:
    """An event's kind as a column (``replica.as_row`` fills it from the record it decoded), and
    the jobs holding a check-in found through a partial index of those alone: Today orders every
    job by its SLA deadline, which depends on whether the engineer has checked in, and reading
    every event of every job to learn it took 2.5 s to paint Today on a laptop holding 100,000
    records."""
    conn.execute("ALTER TABLE records ADD COLUMN kind TEXT")
    conn.execute("UPDATE records SET kind=json_extract(data, '$.payload.kind') WHERE entity='event'")
    conn.execute("CREATE INDEX records_checkins ON records(parent) WHERE kind='checkin'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.row_factory = sqlite3.Row
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    start = int(row[0]) if row else 0
    if start > SCHEMA_VERSION:
        raise RuntimeError(
            f"the laptop store is schema {start}, newer than this client ({SCHEMA_VERSION}): upgrade the field client"
        )
    for number in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number](conn)
            set_meta(conn, "schema_version", str(number + 1))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class LocalStore:
    """``write(fn)`` and ``read(fn)`` each run ``fn(conn)`` in one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        self._lock = threading.RLock()
        with self._lock:
            migrate(self._conn)

    def write(self, fn: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        """Run ``fn`` in one IMMEDIATE transaction: all of it is stored, or none of it.

        ``durable=False`` commits without waiting for the disk (``synchronous=NORMAL``): a
        process killed at any instant still loses nothing committed (it is in the write-ahead
        log), but a power cut may undo the last such transactions, whole and in order, never a
        part of one. Only for what can be fetched again: a pulled page, with its cursor.
        Anything written ``durable`` after it (a recorded event) makes it durable too: the log
        is synced up to that commit."""
        with self._lock:
            try:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(self._conn)
                        self._conn.execute("COMMIT")
                    except BaseException:
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                        raise
                finally:
                    if not durable:
                        self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.OperationalError as exc:
                raise _unavailable(self.path, exc) from exc
            return result

    def flush(self) -> None:
        """Make every transaction committed so far durable: an fsync of the write-ahead log,
        which holds them in commit order (what a checkpoint moved into the main file, it synced
        there itself). Needs no lock, so it runs while the next transaction is being written:
        frames after the last commit are ignored when the log is replayed."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDWR | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return  # no log: every commit is in the main file, synced by the checkpoint
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                return fn(self._conn)
            finally:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _unavailable(path: Path, exc: sqlite3.OperationalError) -> Exception:
    """A full disk or a read-only store is the engineer's to fix: say so, in words."""
    text = str(exc)
    if "full" in text:
        return StoreUnavailable(
            f"the laptop's disk is full: nothing was recorded. Free some space "
            f"(the store is {path}) and record it again",
            field="home",
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnavailable(
            f"the laptop store {path} is read-only: nothing was recorded. Check the folder's permissions or the disk",
            field="home",
        )
    return exc


def now_iso() -> str:
    """The laptop's wall time for bookkeeping columns (information only: order comes from the HLC)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM meta WHERE key=?", (key,))
    else:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )
