"""The store's own settings and marks, one ``meta`` row each: the secret cursors are signed with,
and the version at which housekeeping last purged tombstones."""

from __future__ import annotations

from .base import Tx


def secret(tx: Tx) -> str:
    """The store's random secret (made with the store; cursors and CSRF keys derive from it)."""
    return str(tx.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0])


def purged_at_version(tx: Tx) -> int | None:
    """The version at which tombstones were last purged, if ever (``pull`` diffs in full past it)."""
    row = tx.execute("SELECT value FROM meta WHERE key='purged_at_version'").fetchone()
    return None if row is None else int(row[0])


def set_purged_at_version(tx: Tx, version: int) -> None:
    tx.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('purged_at_version', ?)", (str(version),))
