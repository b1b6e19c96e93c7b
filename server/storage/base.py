"""What every storage implementation hands its callers: a transaction handle, ``Tx``.

``Database.write(fn)`` and ``Database.read(fn)`` run ``fn(tx)`` in one transaction; ``fn`` passes
``tx`` on to the typed functions of this package (``records.get(tx, ...)``,
``devices.high_water(tx, ...)``) and never runs SQL itself: every statement of the server lives
in this package. ``Tx`` names only what those functions need of a connection, so that a
connection of either backend fits.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager, Iterator, Protocol, Sequence, TypeVar

import msgspec

T = TypeVar("T")


class Store(Protocol):
    """A database of either backend (``sqlite.Database``, ``postgres.Database``)."""

    dialect: str

    def write(self, fn: Callable[[Any], T]) -> T: ...

    def read(self, fn: Callable[[Any], T]) -> T: ...

    def glance(self, fn: Callable[[Any], T]) -> T: ...

    def exclusive(self, fn: Callable[[Any], T]) -> T: ...

    def migrate(self) -> int: ...

    def close(self) -> None: ...


class Tx(Protocol):
    """One open transaction (SQLite: the ``sqlite3.Connection`` it runs on)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


def execute_prepared(tx: Tx, sql: str, parameters: Any) -> Any:
    """A statement an incremental pull runs every time: on PostgreSQL prepared at its first run
    on a connection (psycopg prepares any statement at its sixth), so that the server may keep
    a generic plan of it sooner (after five runs of the prepared statement). Kept for a few fixed
    statement texts: psycopg's cache holds 100 per connection, each eviction a round trip."""
    run = getattr(tx, "execute_prepared", None)
    return tx.execute(sql, parameters) if run is None else run(sql, parameters)


def one_of(tx: Tx, column: str, values: list[str]) -> tuple[str, list[Any]]:
    """``column IN (?, ?, ...)`` on SQLite, ``column = ANY(?)`` with one array on PostgreSQL, and
    the parameters for it: PostgreSQL plans a prepared list of hundreds of parameters as a
    sequential scan comparing each row with every value (about a second per 500 ids at 100,000
    records), where one array parameter uses the index."""
    if is_postgres(tx):
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def is_postgres(tx: Tx) -> bool:
    """Whether ``tx`` is a PostgreSQL transaction: the few statements whose spelling differs
    beyond what ``dialect.to_postgres`` rewrites (row locks, ``LIMIT`` without a limit) ask."""
    return getattr(tx, "dialect", "sqlite") == "postgresql"


def lock_change_log(tx: Tx) -> None:
    """Take the change-log lock for the rest of the transaction (see ``postgres.py``): before a
    transaction reads the version counter or the audit chain's head to write after them."""
    lock = getattr(tx, "lock_change_log", None)
    if lock is not None:
        lock()


def bulk_insert(
    tx: Tx,
    table: str,
    columns: dict[str, str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
    constants: dict[str, str] | None = None,
) -> None:
    """Insert ``rows`` into ``table`` in one statement per backend's best way: SQLite one
    ``executemany`` (a function call per row); PostgreSQL one ``INSERT ... SELECT FROM
    json_to_recordset(...)`` over the rows encoded as one JSON text by msgspec (one statement
    and one round trip, where ``executemany`` runs the statement once per row and psycopg
    dumps array parameters element by element in Python). ``columns`` maps each column to its
    PostgreSQL type (``bytea`` travels as base64); ``constants`` adds columns with the same SQL
    value in every row; ``suffix`` is an ``ON CONFLICT`` clause, spelled the same on both."""
    if not rows:
        return
    extra = constants or {}
    names = ", ".join([*columns, *extra])
    if is_postgres(tx):
        as_read = ", ".join(f"{c} {'text' if kind == 'bytea' else kind}" for c, kind in columns.items())
        select = ", ".join(
            [*(f"decode({c}, 'base64')" if kind == "bytea" else c for c, kind in columns.items()), *extra.values()]
        )
        tx.execute(
            f"INSERT INTO {table}({names}) SELECT {select} FROM json_to_recordset(?::json) AS r({as_read}) {suffix}",
            (_rows_json(list(columns), rows),),
        )
        return
    values = ", ".join(["?"] * len(columns) + list(extra.values()))
    tx.executemany(f"INSERT INTO {table}({names}) VALUES ({values}) {suffix}", rows)


_json = msgspec.json.Encoder()


def _rows_json(names: list[str], rows: Sequence[Sequence[Any]]) -> str:
    """The rows as one JSON array of objects. PostgreSQL text holds no NUL (SQLite's can): a NUL
    in a value becomes U+FFFD, as ``postgres._without_nul`` does for ordinary parameters."""
    encoded = _json.encode([dict(zip(names, row, strict=True)) for row in rows])
    if b"\\u0000" in encoded:  # rare: clean the values themselves, not the escaped text
        clean = [[_no_nul(v) for v in row] for row in rows]
        encoded = _json.encode([dict(zip(names, row, strict=True)) for row in clean])
    return encoded.decode()


def _no_nul(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def pipelined(tx: Tx) -> ContextManager[Any]:
    """A block of statements sent to PostgreSQL without waiting for each answer (psycopg's
    pipeline mode: one round trip for the block, where each statement was one); SQLite runs
    them as it always does. A statement whose rows are read still gets them (psycopg waits
    there), and an error is raised by the block at the latest: for writes whose answers
    nobody reads, such as the dozen that end a push while it holds the change-log lock."""
    pipeline = getattr(tx, "pipeline", None)
    return nullcontext() if pipeline is None else pipeline()


def rows_later(tx: Tx, cursor: Any) -> Callable[[], list[Any]]:
    """The rows of a statement just sent, when the result is called: on PostgreSQL read then, so
    that a statement sent inside ``pipelined`` waits for the block's one round trip (a push's
    reads under the change-log lock); on SQLite read at once, a function call, before anything
    later in the transaction writes."""
    if is_postgres(tx):
        return lambda: list(cursor.fetchall())
    rows = list(cursor.fetchall())
    return lambda: rows


@contextmanager
def savepoint(tx: Tx, name: str = "step") -> Iterator[None]:
    """Run the block in a savepoint: an exception undoes the block's writes only (and goes on
    up); the transaction around it stays open. Both backends spell it the same way."""
    tx.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
        tx.execute(f"RELEASE SAVEPOINT {name}")
        raise
    tx.execute(f"RELEASE SAVEPOINT {name}")
