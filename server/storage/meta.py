"""The store's own settings and marks, one ``meta`` row each: the secret cursors are signed with,
and the version at which housekeeping last purged tombstones."""

from __future__ import annotations

from .base import Tx


def secret(tx: Tx) -> str:
    """The store's random secret (made with the store; cursors and CSRF keys derive from it)."""
    return str(tx.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0])


VERSION = "(SELECT CAST(value AS BIGINT) FROM meta WHERE key='version')"
"""The store's committed version, as an expression for another statement's columns: a pull
reads it with the device's state, in one statement (``changes.claim``, ``QUIET_STATE``)."""

PURGED_AT_VERSION = "(SELECT CAST(value AS BIGINT) FROM meta WHERE key='purged_at_version')"
"""The version at which tombstones were last purged (NULL if never), as an expression like
``VERSION``: a pull diffs the scope in full past it (``changes.roots_moved``)."""


def set_purged_at_version(tx: Tx, version: int) -> None:
    tx.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('purged_at_version', ?)", (str(version),))
