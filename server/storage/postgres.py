"""PostgreSQL access: a psycopg pool, one transaction per ``write``/``read``, for any number of
server processes over one database (DESIGN.md, "Several writers, one change log").

The same interface as ``sqlite.Database``: ``write(fn)`` runs ``fn(tx)`` in one READ COMMITTED
transaction and commits; ``read(fn)`` in one REPEATABLE READ, READ ONLY transaction (a pull page
or an office page reads several tables from one snapshot). ``tx`` is a ``PgTx``: the package's
statements, written in SQLite's dialect, are rewritten by ``dialect.to_postgres``.

Several processes append to one change log. Versions come from ``meta.version``, read and
written back once per transaction (``records.next_version``), and a transaction takes the
change-log lock (``pg_advisory_xact_lock``) before it reads that counter or the audit chain's
head, holding it until it commits (``lock_change_log``). So versions are handed out in commit
order: a pull that reads ``meta.version`` sees every change up to it committed, and a cursor
never passes a version still in flight. The lock is taken only when a transaction starts to
write records or the chain: a push first reads the device's high-water row ``FOR UPDATE`` (a
retry on another process waits there, then finds the stored answers) and checks the batch
before it. Pulls and office pages that only read never take it.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Iterable, TypeVar

import psycopg
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool

from .dialect import to_postgres

T = TypeVar("T")

CHANGE_LOG_LOCK = 0x66_73_79_6E_63_00  # "fsync": the one advisory lock of the change log


class Row(tuple[Any, ...]):
    """A row read by position or by column name, like ``sqlite3.Row``; ``dict(row)`` works."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=1024)
def _row_kind(names: tuple[str, ...]) -> type[Row]:
    """The ``Row`` class of one set of column names, made once: making a class costs more
    than the statement's whole Python side (a few hundred statements come back all the time)."""
    return type("Row", (Row,), {"_index": {name: i for i, name in enumerate(names)}})


def row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Any]:
    description = cursor.description
    if description is None:
        return tuple
    return _row_kind(tuple(column.name for column in description))


def _without_nul(parameters: Any) -> Any:
    """PostgreSQL text cannot hold NUL (SQLite's can): a NUL in a value becomes U+FFFD, so a
    lookup by an id with one in it finds nothing, as it would on SQLite, instead of failing."""
    if isinstance(parameters, dict):
        return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in parameters.items()}
    return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in parameters]


class PgTx:
    """One transaction on a pooled connection, with the state ``records.next_version`` keeps
    (``transaction``) and the callbacks to run before the commit (``before_commit``)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], writing: bool) -> None:
        self.conn = conn
        self.transaction: dict[str, Any] | None = {} if writing else None
        self.before_commit: list[Callable[[Any], None]] = []
        self.locked = False

    def execute(self, sql: str, parameters: Any = None, /) -> psycopg.Cursor[Any]:
        return self.conn.execute(to_postgres(sql), () if parameters is None else _without_nul(parameters))

    def execute_prepared(self, sql: str, parameters: Any, /) -> psycopg.Cursor[Any]:
        """``execute``, prepared at its first run on this connection (``base.execute_prepared``)."""
        return self.conn.execute(to_postgres(sql), _without_nul(parameters), prepare=True)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> psycopg.Cursor[Any]:
        cur = self.conn.cursor()
        rows = list(parameters)
        if rows:
            cur.executemany(to_postgres(sql), [_without_nul(row) for row in rows])
        return cur

    def pipeline(self) -> Any:
        """psycopg's pipeline mode for a block of this transaction (``base.pipelined``)."""
        return self.conn.pipeline()

    def lock_change_log(self) -> None:
        """Hold the change-log lock until this transaction ends (once per transaction)."""
        if not self.locked:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGE_LOG_LOCK,))
            self.locked = True


class Database:
    """The server's store on PostgreSQL at ``url`` (``postgresql://...``)."""

    dialect = "postgresql"

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": row_factory, "options": "-c timezone=UTC"},
            open=True,
        )
        self._closed = threading.Event()

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in one READ COMMITTED transaction; commit when it returns."""
        with self.pool.connection() as conn, conn.transaction():
            tx = PgTx(conn, writing=True)
            result = fn(tx)
            if tx.before_commit:  # an empty pipeline still costs its sync's round trip
                with conn.pipeline():  # the callbacks write (the version counter): one for all
                    for callback in tx.before_commit:
                        callback(tx)
            return result

    def read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in one REPEATABLE READ, READ ONLY transaction: one snapshot."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return fn(PgTx(conn, writing=False))

    def glance(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn``, which reads with ONE statement, with no transaction around it: a statement
        in autocommit reads one snapshot, in one round trip instead of the four of ``read``
        (BEGIN, SET TRANSACTION, the statement, COMMIT): every sync request's authentication and
        the up-to-date pull."""
        with self.pool.connection() as conn:
            return fn(PgTx(conn, writing=False))

    def exclusive(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` with no transaction open (migrations commit one transaction per step)."""
        with self.pool.connection() as conn:
            return fn(PgTx(conn, writing=False))

    def migrate(self) -> int:
        from .schema_pg import migrate

        return self.exclusive(migrate)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.pool.close()
