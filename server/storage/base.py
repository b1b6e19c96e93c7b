"""What every storage implementation hands its callers: a transaction handle, ``Tx``.

``Database.write(fn)`` and ``Database.read(fn)`` run ``fn(tx)`` in one transaction; ``fn`` passes
``tx`` on to the typed functions of this package (``records.get(tx, ...)``,
``devices.high_water(tx, ...)``) and never runs SQL itself: every statement of the server lives
in this package. ``Tx`` names only what those functions need of a connection, so that a
connection of either backend fits.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol, TypeVar

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
