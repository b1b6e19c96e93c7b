"""Every office write: one transaction that makes the change and chains it in the audit log.

The tamper-evident audit log (``server/audit.py``) holds every accepted change; pushes chain
theirs in ``push.push``. Office edits do not pass through a push, so they are chained here,
inside the same ``state.db.write`` transaction: each record whose version moved during the
write gets a row naming the office user and device, and the action (``office.intake``,
``office.edit``, ``office.resolve``...). The log and the store never disagree after a crash.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, TypeVar

from .. import policy
from ..auth import Principal
from ..state import ServerState
from ..storage import audit, records as store
from ..storage import Tx

T = TypeVar("T")


def office_write(
    state: ServerState,
    who: Principal,
    kind: str,
    fn: Callable[[Tx], T],
    primary: tuple[str, str] | None = None,
    ref: str = "",
) -> T:
    """Run ``fn`` in one write transaction and chain every record it changed under ``kind``
    (``primary``, the record the action is about, gets a row even if it did not change)."""

    def work(conn: Tx) -> T:
        mark = store.change_mark(conn)
        result = fn(conn)
        audit.append_changes_since(
            conn,
            mark,
            dt.datetime.now(dt.timezone.utc),
            audit.Actor(who.user_id, who.device_id),
            kind,
            primary=primary,
            ref=ref,
        )
        return result

    return state.db.write(work)


def config(state: ServerState) -> policy.Config:
    """The server's ``config.toml`` (severity policy), re-read when it changes."""
    return policy.load(state.data_dir)
