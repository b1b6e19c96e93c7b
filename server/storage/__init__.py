"""The server's storage: every SQL statement and every transaction of the server lives here.

Push, pull, the office, the scheduler and the CLI open a ``Database`` and run their work in
``db.write(fn)`` / ``db.read(fn)``; ``fn`` gets a transaction handle (``Tx``) and hands it to the
typed functions of this package's modules, one module per concept:

    records   records, their per-field versions and the store-wide version sequence
    changes   the change log as a pull reads it: cursors, staged pages, scope diffs
    scopes    which records a device may see (its scope), and what it holds (its scope set)
    devices   users, devices, enrollment tokens, push high-water marks and stored answers
    audit     the hash-chained audit log
    batch     a push batch's writes held in memory, then written one statement per table
    blobs     blob metadata and unfinished uploads (the bytes live in ``server.blobs``)
    office    the office's read queries (board, lists, pickers, reports)
    scheduler the scheduled jobs' memory: runs, maintenance plan, housekeeping's sweeps
    schema    the schema and its numbered migrations
    sqlite    ``Database`` over SQLite: one writer, per-thread readers (datasette's shape)
    postgres  ``Database`` over PostgreSQL (psycopg pool), for several server processes
    dialect   how a statement written for SQLite is spelled for PostgreSQL
    schema_pg the PostgreSQL schema, versioned like SQLite's

Nothing outside this package imports a database driver (tests/test_architecture.py).
"""

from __future__ import annotations

from pathlib import Path

from .base import Store, Tx, pipelined, savepoint
from .sqlite import Database

__all__ = ["Database", "Store", "Tx", "database_url", "open_database", "pipelined", "savepoint"]

DB_FILE = "fieldsync.db"


def database_url(data_dir: Path, database: str | None = None) -> str:
    """The database a server with this data directory uses: ``database`` (``--database``, or
    ``database =`` in ``config.toml``), or by default ``sqlite:///DATA_DIR/fieldsync.db``."""
    return database or f"sqlite:///{Path(data_dir) / DB_FILE}"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


def open_database(url: str, durable: bool = False) -> Store:
    """The store at ``url``: ``sqlite:///path`` or ``postgresql://...`` (schema not migrated yet:
    call ``migrate()``)."""
    path = sqlite_path(url)
    if path is not None:
        return Database(path, durable=durable)
    if url.startswith(("postgresql://", "postgres://")):
        from . import postgres

        return postgres.Database(url)
    raise ValueError(f"database must be sqlite:///PATH or postgresql://...: not {url!r}")
