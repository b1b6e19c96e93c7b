"""Serving a pull: scope diff first, then changes since the cursor, in pages.

The server remembers per device which records it holds (``device_scope``). Each page diffs the
device's current scope against that set: records that left are sent as ``remove``, records that
entered are sent whole even when older than the cursor, then ordinary changes follow in version
order, filtered by scope.

A cursor acknowledges the page it came with. The server stages what a page sends in
``device_scope_pending`` under the page's new cursor, and only moves it into ``device_scope``
when the device sends that cursor back (proof it committed the page). If the device sends the
previous cursor instead, the page was lost, the staged rows are dropped, and the same changes
are computed again. So a laptop killed mid-pull resumes from its last committed page.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from typing import NamedTuple

from sync_protocol import CursorReset, MalformedMessage, PullRequest

from . import scopes, store
from .auth import Principal


class PullRows(NamedTuple):
    """One page before encoding: removes (entity, id, reason), upserts (version, JSON), cursor."""

    removes: list[tuple[str, str, str]]
    upserts: list[tuple[int, str]]
    cursor: str
    more: bool


def make_cursor(secret: str, device_id: str, n: int) -> str:
    mac = hmac.new(secret.encode(), f"{device_id}:{n}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"{n}-{mac}"


def check_cursor(secret: str, device_id: str, cursor: str) -> None:
    n, _, _ = cursor.partition("-")
    if not n.isdigit() or not hmac.compare_digest(make_cursor(secret, device_id, int(n)), cursor):
        raise MalformedMessage("this cursor was not issued to this device", field="cursor")


def pull(conn: sqlite3.Connection, who: Principal, request: PullRequest, secret: str) -> PullRows:
    """Compute one page (the caller holds the write transaction)."""
    device = conn.execute("SELECT * FROM devices WHERE id=?", (who.device_id,)).fetchone()
    if request.cursor is None:
        _reset(conn, who.device_id)
        since, diff_version, given = 0, None, None
    else:
        check_cursor(secret, who.device_id, request.cursor)
        since, diff_version = _acknowledge(conn, device, request.cursor)
        given = request.cursor
    now_version = store.current_version(conn)
    diffed = diff_version == now_version  # the scope as of now was diffed and sent already
    if diffed and since >= now_version and given is not None:
        return PullRows([], [], given, False)  # nothing in the store moved since
    if diffed:
        removes, upserts, more, last = [], [], False, None
        diff_sent = True
        changes = scopes.changes_since(conn, who, since, request.limit + 1)
    else:
        scopes.fill_scope(conn, who)
        removes, upserts, more, last = _diff(conn, who.device_id, since, request.limit)
        diff_sent = not more
        changes = _scoped_changes(conn, since, request.limit - len(removes) - len(upserts) + 1)
    room = request.limit - len(removes) - len(upserts)
    if room >= 0 and changes:
        more = more or len(changes) > room
        taken = changes[:room]
        upserts += taken
        last = taken[-1][2] if taken else last
    until = now_version if not more else (last if last is not None else since)
    diff_done = now_version if diff_sent else None
    if not removes and not upserts:
        cursor = given or _issue(conn, secret, device, who.device_id)
        conn.execute("UPDATE devices SET ack_cursor=?, ack_seq=?, diff_version=?, "
                     "pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL WHERE id=?",
                     (cursor, until, now_version, who.device_id))
        return PullRows([], [], cursor, False)
    cursor = _issue(conn, secret, device, who.device_id)
    _stage(conn, who.device_id, removes, upserts)
    conn.execute("UPDATE devices SET pending_cursor=?, pending_seq=?, pending_diff=? WHERE id=?",
                 (cursor, until, diff_done, who.device_id))
    return PullRows([(e, i, r) for e, i, r in removes], [(v, d) for _, _, v, d in upserts], cursor, more)


def _reset(conn: sqlite3.Connection, device_id: str) -> None:
    """A pull from no cursor: the device holds nothing, whatever we remembered."""
    conn.execute("DELETE FROM device_scope WHERE device_id=?", (device_id,))
    conn.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    conn.execute("UPDATE devices SET ack_cursor=NULL, ack_seq=0, pending_cursor=NULL, pending_seq=NULL, "
                 "pending_diff=NULL, diff_version=NULL WHERE id=?", (device_id,))


def _acknowledge(conn: sqlite3.Connection, device: sqlite3.Row, cursor: str) -> tuple[int, int | None]:
    """Fold the staged page into ``device_scope`` if the device committed it; returns (since, diff)."""
    device_id = device["id"]
    if cursor == device["pending_cursor"]:
        conn.execute("INSERT OR IGNORE INTO device_scope(device_id, entity, id) SELECT device_id, entity, id "
                     "FROM device_scope_pending WHERE device_id=? AND op='add'", (device_id,))
        conn.execute("DELETE FROM device_scope WHERE device_id=? AND (entity, id) IN "
                     "(SELECT entity, id FROM device_scope_pending WHERE device_id=? AND op='del')",
                     (device_id, device_id))
        conn.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
        conn.execute("UPDATE devices SET ack_cursor=pending_cursor, ack_seq=pending_seq, "
                     "diff_version=pending_diff, pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL "
                     "WHERE id=?", (device_id,))
        return int(device["pending_seq"]), device["pending_diff"]
    if cursor == device["ack_cursor"]:
        if device["pending_cursor"] is not None:
            conn.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
            conn.execute("UPDATE devices SET pending_cursor=NULL, pending_seq=NULL, pending_diff=NULL "
                         "WHERE id=?", (device_id,))
        return int(device["ack_seq"] or 0), device["diff_version"]
    raise CursorReset("this cursor is no longer known: drop server records and pull from the start",
                      field="cursor")


def _issue(conn: sqlite3.Connection, secret: str, device: sqlite3.Row, device_id: str) -> str:
    n = conn.execute("UPDATE devices SET cursor_n = cursor_n + 1 WHERE id=? RETURNING cursor_n",
                     (device_id,)).fetchone()[0]
    return make_cursor(secret, device_id, int(n))


def _diff(conn: sqlite3.Connection, device_id: str, since: int, limit: int):  # type: ignore[no-untyped-def]
    """What the device holds that left its scope, and what entered the scope older than
    ``since`` (``temp.scope_now`` filled): at most ``limit`` rows, and whether more remain."""
    removes = conn.execute(
        "SELECT d.entity, d.id, CASE WHEN r.deleted IS NULL OR r.deleted=1 THEN 'deleted' "
        "ELSE 'left_scope' END FROM device_scope d LEFT JOIN records r ON r.entity=d.entity AND r.id=d.id "
        "WHERE d.device_id=? AND NOT EXISTS (SELECT 1 FROM temp.scope_now s WHERE s.entity=d.entity "
        "AND s.id=d.id) LIMIT ?", (device_id, limit + 1)).fetchall()
    room = limit - len(removes)
    entering = [] if room < 0 else conn.execute(
        "SELECT s.entity, s.id, r.version, r.data FROM temp.scope_now s JOIN records r "
        "ON r.entity=s.entity AND r.id=s.id WHERE s.version <= ? AND NOT EXISTS (SELECT 1 FROM "
        "device_scope d WHERE d.device_id=? AND d.entity=s.entity AND d.id=s.id) "
        "ORDER BY s.entity, s.id LIMIT ?", (since, device_id, room + 1)).fetchall()
    rows = [tuple(r) for r in removes] + [tuple(r) for r in entering]
    more = len(rows) > limit
    rows = rows[:limit]
    cut = min(len(removes), len(rows))
    return rows[:cut], rows[cut:], more, None


def _scoped_changes(conn: sqlite3.Connection, since: int, limit: int) -> list[tuple[str, str, int, str]]:
    """In-scope changes after ``since`` from the materialised ``temp.scope_now``."""
    if limit <= 0:
        return []
    return [tuple(r) for r in conn.execute(  # type: ignore[misc]
        "SELECT s.entity, s.id, r.version, r.data FROM temp.scope_now s JOIN records r "
        "ON r.entity=s.entity AND r.id=s.id WHERE s.version > ? ORDER BY s.version LIMIT ?", (since, limit))]


def _stage(conn: sqlite3.Connection, device_id: str, removes: list, upserts: list) -> None:  # type: ignore[type-arg]
    conn.execute("DELETE FROM device_scope_pending WHERE device_id=?", (device_id,))
    conn.executemany("INSERT OR REPLACE INTO device_scope_pending(device_id, entity, id, op) VALUES (?,?,?,'del')",
                     [(device_id, e, i) for e, i, _ in removes])
    conn.executemany("INSERT OR REPLACE INTO device_scope_pending(device_id, entity, id, op) VALUES (?,?,?,'add')",
                     [(device_id, e, i) for e, i, _, _ in upserts])
