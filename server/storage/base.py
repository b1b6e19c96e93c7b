"""What every storage implementation hands its callers: a transaction handle, ``Tx``.

``Database.write(fn)`` and ``Database.read(fn)`` run ``fn(tx)`` in one transaction; ``fn`` passes
``tx`` on to the typed functions of this package (``records.get(tx, ...)``,
``devices.high_water(tx, ...)``) and never runs SQL itself: every statement of the server lives
in this package. ``Tx`` names only what those functions need of a connection, so that a
connection of either backend fits.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Protocol


class Tx(Protocol):
    """One open transaction (SQLite: the ``sqlite3.Connection`` it runs on)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


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
