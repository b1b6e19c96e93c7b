"""The server's storage: every SQL statement and every transaction of the server lives here.

Push, pull, the office, the scheduler and the CLI open a ``Database`` and run their work in
``db.write(fn)`` / ``db.read(fn)``; ``fn`` gets a transaction handle (``Tx``) and hands it to the
typed functions of this package's modules, one module per concept:

    records   records, their per-field versions and the store-wide version sequence
    changes   the change log as a pull reads it: cursors, staged pages, scope diffs
    scopes    which records a device may see (its scope), and what it holds (its scope set)
    devices   users, devices, enrollment tokens, push high-water marks and stored answers
    audit     the hash-chained audit log
    blobs     blob metadata and unfinished uploads (the bytes live in ``server.blobs``)
    office    the office's read queries (board, lists, pickers, reports)
    scheduler the scheduled jobs' memory: runs, maintenance plan, housekeeping's sweeps
    schema    the schema and its numbered migrations
    sqlite    ``Database`` over SQLite: one writer, per-thread readers (datasette's shape)

Nothing outside this package imports a database driver (tests/test_architecture.py).
"""

from __future__ import annotations

from .base import Tx
from .base import savepoint
from .sqlite import Database

__all__ = ["Database", "Tx", "savepoint"]
