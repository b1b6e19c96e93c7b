"""The change log as a pull reads it: each device's cursor state, the page it was sent and has
not acknowledged yet (staged in ``device_scope_pending``), and the scope diffs.

``server.pull`` decides what a page holds; every statement it needs is here. The scope itself
(which records a device may see) is ``scopes``; the records' versions are ``records``.
"""

from __future__ import annotations

from typing import Any

from ..principal import Principal
from . import meta, scopes
from .base import Tx, bulk_insert, execute_prepared, is_postgres, pipelined

Change = tuple[str, str, int, str, str | None, str | None]  # (entity, id, version, data, parent, origin)


def device(tx: Tx, device_id: str) -> Any:
    """The device's pull state: ack_cursor, ack_seq, pending_cursor, pending_seq, pending_diff,
    diff_version, prior_cursor, scope_size, cursor_n (read by name)."""
    return tx.execute("SELECT * FROM devices WHERE id=?", (device_id,)).fetchone()


def claim(tx: Tx, device_id: str) -> Any:
    """What a pull reads first, in one statement (each is a round trip on PostgreSQL): the
    device's pull state as ``device`` has it, with a new number for the cursor of the page
    (``cursor_n``, each page's cursor is new; one a page does not use is skipped), the store's
    version (``now_version``) and the version of its last purge of tombstones
    (``purged_at_version``, None if never). It locks the device's row for the pull, so two pulls
    of one device (two processes) take turns from their first read.

    Read first, the version still bounds what the page may send: every version up to the
    committed one is committed (a writer holds the change-log lock until its commit)."""
    return tx.execute(
        "UPDATE devices SET cursor_n = cursor_n + 1 WHERE id=? "
        f"RETURNING *, {meta.VERSION} AS now_version, {meta.PURGED_AT_VERSION} AS purged_at_version",
        (device_id,),
    ).fetchone()


QUIET_STATE = f"d.ack_cursor, d.ack_seq, d.pending_cursor, d.diff_version, {meta.VERSION} AS now_version"
"""What ``pull.unchanged`` reads of a device ``d`` and the store: the columns that the token's
own statement adds for a pull (``devices.principal_by_token(..., pull_state=True)``), so that an
up-to-date device costs one statement in all."""


def reset(tx: Tx, device_id: str) -> None:
    """A pull from no cursor: the device holds nothing, whatever we remembered."""
    tx.execute("DELETE FROM device_scope WHERE device_id=?", (device_id,))
    tx.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    tx.execute(
        "UPDATE devices SET ack_cursor=NULL, ack_seq=0, pending_cursor=NULL, pending_seq=NULL, "
        "pending_diff=NULL, diff_version=NULL, prior_cursor=NULL, prior_seq=NULL, prior_diff=NULL WHERE id=?",
        (device_id,),
    )


def pending_walked_since(tx: Tx, device_id: str, ack_seq: int) -> bool:
    """Whether every record of the staged page is an upsert that changed after ``ack_seq``: then
    going back to that version walks all of them again (a prefetch may fold the page early)."""
    early = tx.execute(
        "SELECT 1 FROM device_scope_pending p WHERE p.device_id=? AND (p.op != 'add' OR NOT EXISTS "
        "(SELECT 1 FROM records r WHERE r.entity=p.entity AND r.id=p.id AND r.version > ?)) LIMIT 1",
        (device_id, ack_seq),
    ).fetchone()
    return early is None


def remember_prior(tx: Tx, device_id: str, prior: tuple[str | None, int | None, int | None] | None) -> None:
    """The acknowledged state before a prefetch folded a page early (cursor, seq, diff), or None."""
    tx.execute(
        "UPDATE devices SET prior_cursor=?, prior_seq=?, prior_diff=? WHERE id=?",
        (*(prior or (None, None, None)), device_id),
    )


def go_back(tx: Tx, device_id: str) -> Any:
    """The device lost the page it prefetched after: the prior cursor is the acknowledged one
    again and nothing staged waits; returns the device's pull state as ``device`` does."""
    tx.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    tx.execute(
        "UPDATE devices SET ack_cursor=prior_cursor, ack_seq=prior_seq, diff_version=prior_diff, "
        "pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL WHERE id=?",
        (device_id,),
    )
    return device(tx, device_id)


def commit_pending(tx: Tx, device_id: str) -> None:
    """The device committed its staged page: fold it into what the device holds, and make its
    cursor the acknowledged one. A record it already held under the same parent is not
    rewritten (most of an incremental pull: records changed in place). On PostgreSQL this is one
    statement (data-modifying CTEs): each statement there is a round trip to its process."""
    if is_postgres(tx):
        tx.execute(_COMMIT_PENDING_AT_ONCE, (device_id, device_id, device_id, device_id))
        return
    tx.execute(
        "INSERT INTO device_scope(device_id, entity, id, parent) "
        "SELECT device_id, entity, id, parent FROM device_scope_pending WHERE device_id=? AND op='add' "
        "ON CONFLICT(device_id, entity, id) DO UPDATE SET parent=excluded.parent WHERE parent IS NOT excluded.parent",
        (device_id,),
    )
    tx.execute(
        "DELETE FROM device_scope WHERE device_id=? AND (entity, id) IN "
        "(SELECT entity, id FROM device_scope_pending WHERE device_id=? AND op='del')",
        (device_id, device_id),
    )
    tx.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    tx.execute(_ACKNOWLEDGE_PENDING, (device_id,))


_ACKNOWLEDGE_PENDING = (
    "UPDATE devices SET ack_cursor=pending_cursor, ack_seq=pending_seq, "
    "diff_version=pending_diff, pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL "
    "WHERE id=?"
)
_COMMIT_PENDING_AT_ONCE = (  # commit_pending's four statements as one (a page names a record once)
    "WITH staged AS (DELETE FROM device_scope_pending WHERE device_id=? RETURNING entity, id, op, parent), "
    "added AS (INSERT INTO device_scope(device_id, entity, id, parent) SELECT ?, entity, id, parent "
    "FROM staged WHERE op='add' ON CONFLICT(device_id, entity, id) DO UPDATE SET parent=excluded.parent "
    "WHERE device_scope.parent IS DISTINCT FROM excluded.parent), "
    "removed AS (DELETE FROM device_scope d USING staged s WHERE d.device_id=? AND d.entity=s.entity "
    "AND d.id=s.id AND s.op='del') " + _ACKNOWLEDGE_PENDING
)


def drop_pending(tx: Tx, device_id: str) -> None:
    """The staged page was lost (the device sent its previous cursor): forget it."""
    tx.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    tx.execute("UPDATE devices SET pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL WHERE id=?", (device_id,))


def acknowledge_empty(tx: Tx, device_id: str, cursor: str, until: int, diff_version: int) -> None:
    """An empty page: the cursor is acknowledged at once (there is nothing to commit)."""
    tx.execute(
        "UPDATE devices SET ack_cursor=?, ack_seq=?, diff_version=?, "
        "pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL WHERE id=?",
        (cursor, until, diff_version, device_id),
    )


def stage(
    tx: Tx,
    device_id: str,
    cursor: str,
    until: int,
    diff_version: int | None,
    removes: list[tuple[str, str, str]],
    upserts: list[Change],
) -> None:
    """Stage what a page sends under its new cursor, until the device sends that cursor back.

    A record named twice keeps its last row (an upsert after a remove wins), as ``INSERT OR
    REPLACE`` row by row would. The rows go in with ``bulk_insert``: on PostgreSQL one statement
    over one JSON text (a row-by-row ``executemany`` there is one message per record, 0.4 s for a
    5,000-record page, and array parameters are dumped element by element in Python).

    Nothing of the device's is staged at this point: ``pull`` has committed, dropped or reset
    what was (a staged row never outlives its ``pending_cursor``)."""
    staged: dict[tuple[str, str], tuple[str, str | None]] = {(e, i): ("del", None) for e, i, _ in removes}
    staged.update(((e, i), ("add", parent)) for e, i, _, _, parent, _ in upserts)
    with pipelined(tx):  # two writes whose answers nobody reads: one round trip on PostgreSQL
        bulk_insert(
            tx,
            "device_scope_pending",
            {"device_id": "text", "entity": "text", "id": "text", "op": "text", "parent": "text"},
            [(device_id, e, i, op, parent) for (e, i), (op, parent) in staged.items()],
        )
        _await_acknowledgement(tx, device_id, cursor, until, diff_version)


def _await_acknowledgement(tx: Tx, device_id: str, cursor: str, until: int, diff_version: int | None) -> None:
    """The page's cursor waits for the device to send it back (``commit_pending`` then)."""
    tx.execute(
        "UPDATE devices SET pending_cursor=?, pending_seq=?, pending_diff=? WHERE id=?",
        (cursor, until, diff_version, device_id),
    )


def stage_walked(
    tx: Tx, device_id: str, cursor: str, until: int, diff_version: int | None, upserts: list[Change]
) -> None:
    """Stage a page of records walked by version only (no removes, nothing entering from before
    the cursor): its records go into ``device_scope`` at once, and only the cursor waits.

    Every record of such a page changed after the acknowledged version, and keeps doing so. If
    the device loses the page, the walk from that version sends each again while it is in
    scope, and one that has left is sent as a remove the laptop may not need (the argument that
    lets a prefetch fold a page early). Writing each record once, not into
    ``device_scope_pending`` and then again, halves the rows a pull writes."""
    held = {(e, i): parent for e, i, _, _, parent, _ in upserts}
    with pipelined(tx):  # two writes whose answers nobody reads: one round trip on PostgreSQL
        bulk_insert(
            tx,
            "device_scope",
            {"device_id": "text", "entity": "text", "id": "text", "parent": "text"},
            [(device_id, e, i, parent) for (e, i), parent in held.items()],
            "ON CONFLICT(device_id, entity, id) DO UPDATE SET parent=excluded.parent "
            "WHERE device_scope.parent IS NOT excluded.parent",
        )
        _await_acknowledgement(tx, device_id, cursor, until, diff_version)


def hold(tx: Tx, device_id: str, entity: str, held: list[tuple[str, str]]) -> None:
    """The device holds these records (id, parent) without a page having sent them: the events
    its push appended and it keeps (``PushRequest.keeps_events``). A scope diff then removes
    them from it like any record it holds."""
    bulk_insert(
        tx,
        "device_scope",
        {"device_id": "text", "entity": "text", "id": "text", "parent": "text"},
        [(device_id, entity, record_id, parent) for record_id, parent in held],
        "ON CONFLICT(device_id, entity, id) DO NOTHING",
    )


def fill_scope(tx: Tx, who: Principal) -> int:
    """Materialise the device's scope now (``scopes.fill_scope``) and remember its size."""
    size = scopes.fill_scope(tx, who)
    tx.execute("UPDATE devices SET scope_size=? WHERE id=?", (size, who.device_id))
    return size


def count_scope(tx: Tx, who: Principal) -> int:
    """About how many records the device's scope holds now (``scopes.count_scope``), counted
    without materialising it, and remembered as ``fill_scope`` remembers it."""
    size = scopes.count_scope(tx, who)
    tx.execute("UPDATE devices SET scope_size=? WHERE id=?", (size, who.device_id))
    return size


def filled_changes(tx: Tx, since: int, limit: int) -> list[Change]:
    """Records of the materialised scope changed after ``since``, oldest first."""
    return [
        tuple(r)
        for r in tx.execute(
            "SELECT s.entity, s.id, r.version, r.data, r.parent, r.origin FROM temp.scope_now s CROSS JOIN records r "
            "ON r.entity=s.entity AND r.id=s.id WHERE s.version > ? ORDER BY s.version LIMIT ?",
            (since, limit),
        )
    ]


def roots_moved(
    tx: Tx, who: Principal, diff_version: int, now_version: int, partway: bool, purged_at: int | None
) -> bool:
    """Did a job or site change since ``diff_version`` in a way that moves the device's scope:
    one it holds left or moved to another site or customer, or one it does not hold entered
    (or tombstones were purged since).

    ``partway``: the device has not been sent everything up to ``diff_version`` yet (more pages
    of its pull remain). It may then hold a job's site, customer or equipment without the job
    itself, whose version comes later; when that job leaves the scope, what the device holds of
    it cannot tell. Any job or site changed since counts as a move then.

    ``purged_at``: the version of the store's last purge of tombstones (``device`` reads it)."""
    if purged_at is not None and purged_at > diff_version:
        return True
    if partway:
        changed = "SELECT 1 FROM records WHERE version > ? AND version <= ? AND +entity IN ('job', 'site') LIMIT 1"
        return tx.execute(changed, (diff_version, now_version)).fetchone() is not None
    with_clause, test, params = scopes.scope_test(who)
    row = execute_prepared(
        tx,
        with_clause + "SELECT 1 FROM (SELECT entity, id, parent, (deleted=0 AND " + test + ") AS inside "
        "FROM records WHERE version > :dv AND version <= :now AND +entity IN ('job', 'site')) x "
        "LEFT JOIN device_scope d ON d.device_id=:device AND d.entity=x.entity AND d.id=x.id "
        "WHERE x.inside != (d.id IS NOT NULL) OR (d.id IS NOT NULL AND d.parent IS NOT x.parent) LIMIT 1",
        {**params, "dv": diff_version, "now": now_version, "device": who.device_id},
    ).fetchone()
    return row is not None


def left_since(tx: Tx, who: Principal, diff_version: int, now_version: int, limit: int) -> list[tuple[str, str, str]]:
    """Records the device holds that changed since ``diff_version`` and are out of scope now.

    Driven by the changed records, each probing ``device_scope`` once: a scalar subquery, which
    neither backend turns into a join. As a join, PostgreSQL read the device's whole
    ``device_scope`` (a 20,000-record laptop: 0.3 s) to find the few changed records in it.
    Bounded above by ``now_version`` as ``scopes.changes_since`` is, and ``roots_moved`` too."""
    with_clause, test, params = scopes.scope_test(who)
    return [
        tuple(r)
        for r in execute_prepared(
            tx,
            with_clause + "SELECT x.entity, x.id, CASE WHEN x.deleted=1 THEN 'deleted' ELSE 'left_scope' END "
            "FROM (SELECT entity, id, deleted, (deleted=0 AND " + test + ") AS inside FROM records "
            "WHERE version > :dv AND version <= :now) x WHERE NOT x.inside AND (SELECT 1 FROM device_scope d "
            "WHERE d.device_id=:device AND d.entity=x.entity AND d.id=x.id) IS NOT NULL LIMIT :limit",
            {**params, "dv": diff_version, "now": now_version, "device": who.device_id, "limit": limit},
        )
    ]


def full_diff(tx: Tx, device_id: str, since: int, limit: int) -> tuple[list[Any], list[Any]]:
    """What the device holds that left its scope, and what entered the scope older than
    ``since`` (``temp.scope_now`` filled): at most ``limit + 1`` removes, then as many entering
    rows as fit (one more, to tell whether more remain)."""
    removes = tx.execute(
        "SELECT d.entity, d.id, CASE WHEN r.deleted IS NULL OR r.deleted=1 THEN 'deleted' "
        "ELSE 'left_scope' END FROM device_scope d LEFT JOIN records r ON r.entity=d.entity AND r.id=d.id "
        "WHERE d.device_id=? AND NOT EXISTS (SELECT 1 FROM temp.scope_now s WHERE s.entity=d.entity "
        "AND s.id=d.id) LIMIT ?",
        (device_id, limit + 1),
    ).fetchall()
    room = limit - len(removes)
    entering = (
        []
        if room < 0
        else tx.execute(
            "SELECT s.entity, s.id, r.version, r.data, r.parent, NULL FROM temp.scope_now s CROSS JOIN records r "
            "ON r.entity=s.entity AND r.id=s.id WHERE s.version <= ? AND NOT EXISTS (SELECT 1 FROM "
            "device_scope d WHERE d.device_id=? AND d.entity=s.entity AND d.id=s.id) "
            "ORDER BY s.entity, s.id LIMIT ?",
            (since, device_id, room + 1),
        ).fetchall()
    )
    return [tuple(r) for r in removes], [tuple(r) for r in entering]
