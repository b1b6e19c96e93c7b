"""Serving a pull: scope diff first, then changes since the cursor, in pages.

The server remembers per device which records it holds (``device_scope``, with each record's
parent). A page first diffs the device's current scope against that set: records that left are
sent as ``remove``, records that entered are sent whole even when older than the cursor. Then
ordinary changes follow, walked in version order and filtered by scope, until the page is full.

The diff costs what changed, not the size of the scope: none when the store has not moved since
the device's last complete diff (the pages of one long pull), only the records changed since
then when no job or site moved the scope (an edit, a push), and a full comparison otherwise
(a job assigned, re-assigned or closed). See ``_scope_diff``.

A cursor acknowledges the page it came with. The server stages what a page sends in
``device_scope_pending`` under the page's new cursor, and only moves it into ``device_scope``
when the device sends that cursor back (proof it committed the page). If the device sends the
previous cursor instead, the page was lost, the staged rows are dropped, and the same changes
are computed again. So a laptop killed mid-pull resumes from its last committed page. A page
walked by version only (most pages: no removes, nothing entering from before the cursor) goes
into ``device_scope`` at once and only its cursor waits: if it is lost, the walk from the
acknowledged version sends every record of it again (``changes.stage_walked``).

A prefetch (``PullRequest.prefetch``) names the page the laptop holds but is still committing,
so that the server computes the next one meanwhile. The server takes that page as acknowledged,
remembering the cursor before it (``prior_cursor``); if the laptop comes back with that one (it
died before committing), the device goes back to it. The page is folded early only when every
record it staged changed after the prior cursor's version: going back then re-walks them all
(a record that left the scope meanwhile is sent as a remove, which the laptop may not need).
Any other page (removes, records entering from before) declines the prefetch.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, NamedTuple

from sync_protocol import MAX_PULL_PAGE, CursorReset, MalformedMessage, PullRequest, TooLarge

from .auth import Principal
from .storage import Tx, changes, scopes
from .storage.batch import origin_mark
from .storage.changes import Change


class PullRows(NamedTuple):
    """One page before encoding: removes (entity, id, reason), upserts (version, JSON), cursor."""

    removes: list[tuple[str, str, str]]
    upserts: list[tuple[int, str]]
    cursor: str
    more: bool


def make_cursor(secret: str, device_id: str, n: int) -> str:
    mac = hmac.new(secret.encode(), f"{device_id}:{n}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"{n}-{mac}"


def check_cursor(secret: str, device_id: str, cursor: str, field: str = "cursor") -> None:
    n, _, _ = cursor.partition("-")
    if not n.isdigit() or not hmac.compare_digest(make_cursor(secret, device_id, int(n)), cursor):
        raise MalformedMessage("this cursor was not issued to this device", field=field)


def check_request(who: Principal, request: PullRequest, secret: str, within: str = "") -> None:
    """Refuse a pull before any store work: a page over ``max_pull_page`` (413), a cursor not
    issued to this device (400). ``within`` prefixes the field: ``pull.`` for the pull a push
    carries, which must be refused before the push applies anything."""
    if request.limit > MAX_PULL_PAGE:
        raise TooLarge(
            f"a pull page holds at most {MAX_PULL_PAGE} changes", field=f"{within}limit", limit=MAX_PULL_PAGE
        )
    if request.cursor is not None:
        check_cursor(secret, who.device_id, request.cursor, field=f"{within}cursor")


def unchanged(who: Principal, request: PullRequest, secret: str, device: Any) -> PullRows | None:
    """The empty page for a device that is up to date, from its pull state ``device`` as the
    token's statement read it (``auth.authenticate_pulling``, on the event loop, without the
    write lock); None when there may be something to send (``pull`` decides then).

    Up to date: it sent back the cursor it acknowledged last, no page is waiting for its
    acknowledgement, and the store has not moved since its last complete diff. That is most
    syncs of a fleet, and they no longer queue behind pushes for the one writer.
    """
    if request.cursor is None:
        return None
    check_cursor(secret, who.device_id, request.cursor)
    if device is None or device["pending_cursor"] is not None or device["ack_cursor"] != request.cursor:
        return None
    now_version = int(device["now_version"])
    if device["diff_version"] != now_version or (device["ack_seq"] or 0) < now_version:
        return None
    return PullRows([], [], request.cursor, False)


def pull(conn: Tx, who: Principal, request: PullRequest, secret: str) -> PullRows:
    """Compute one page (the caller holds the write transaction)."""
    claimed = device = changes.claim(conn, who.device_id)
    now_version, number = int(claimed["now_version"]), int(claimed["cursor_n"])  # number: a new cursor's
    if request.cursor is None:
        changes.reset(conn, who.device_id)
        since, diff_version, given = 0, None, None
    else:
        check_cursor(secret, who.device_id, request.cursor)
        prior = None
        if request.prefetch:
            if not _can_prefetch(conn, device, request.cursor):
                return PullRows([], [], request.cursor, True)  # declined: commit the page, then ask
            prior = (device["ack_cursor"], device["ack_seq"], device["diff_version"])
        elif device["prior_cursor"] is not None and request.cursor == device["prior_cursor"]:
            device = changes.go_back(conn, who.device_id)  # it died committing the prefetched-after page
        since, diff_version = _acknowledge(conn, device, request.cursor)
        if prior is not None or device["prior_cursor"] is not None:  # else it stays as it is: none
            changes.remember_prior(conn, who.device_id, prior)
        given = request.cursor
    if diff_version == now_version and since >= now_version and given is not None:
        return PullRows([], [], given, False)  # nothing in the store moved since
    plan = _Plan(conn, who, now_version, device["scope_size"], claimed["purged_at_version"])
    if request.cursor is None:  # it holds nothing: nothing to remove, nothing entering before 0
        removes, upserts, more, diff_sent = [], [], False, True
    else:
        removes, upserts, more, diff_sent = _scope_diff(plan, since, diff_version, request.limit)
    walked_only = not removes and not upserts  # what follows is walked by version
    room = request.limit - len(removes) - len(upserts)
    last = None
    if not more:
        found = plan.changes(since, room + 1)
        more = len(found) > room
        upserts += found[:room]
        last = found[room - 1][2] if more and room > 0 else None
    until = now_version if not more else (last if last is not None else since)
    if not removes and not upserts:
        cursor = given or make_cursor(secret, who.device_id, number)
        changes.acknowledge_empty(conn, who.device_id, cursor, until, now_version)
        return PullRows([], [], cursor, False)
    cursor = make_cursor(secret, who.device_id, number)
    diff = now_version if diff_sent else None
    if walked_only:
        changes.stage_walked(conn, who.device_id, cursor, until, diff, upserts)
    else:
        changes.stage(conn, who.device_id, cursor, until, diff, removes, upserts)
    # Staged all the same, so that the device's scope holds them: the events its own pushes
    # appended and it keeps, unchanged since (``records.origin``). A device pulling from the
    # start holds none of them.
    keeper = who.device_id if given is not None else None
    sent = [
        (v, d) for _, _, v, d, _, mark in upserts if mark is None or keeper is None or mark != origin_mark(keeper, v)
    ]
    return PullRows(removes, sent, cursor, more)


class _Plan:
    """How this page reads the scope: walking the versions changed since a mark, or
    materialising the whole scope (``scopes.fill_scope``) once, whichever reads fewer rows.

    Walking costs the versions since the mark, most of them other devices' changes on a busy
    fleet; materialising costs the scope, whose size is remembered from the last time
    (``devices.scope_size``). A laptop pulling after a day's work of 500 others materialises its
    few thousand records; one pulling a minute after its last sync walks a few hundred versions.
    """

    def __init__(
        self, conn: Tx, who: Principal, now_version: int, scope_size: int | None, purged_at: int | None
    ) -> None:
        self.conn, self.who, self.now_version = conn, who, now_version
        self.scope_size, self.purged_at = scope_size, purged_at
        self.filled = False

    def walkable(self, mark: int) -> bool:
        return self.scope_size is not None and self.now_version - mark <= self.scope_size

    def walkable_from_start(self, since: int) -> bool:
        """A first pull (from version 0) walks when the scope is at least half the store's
        versions: the walk reads each version once over the whole pull (a few µs per row),
        where materialising reads the scope, writes it to a temporary table and sorts it by
        version on the first page (three times that per row). The scope is counted, not
        materialised, when no earlier pull of the device measured it."""
        if since != 0:
            return False
        if self.scope_size is None:
            self.scope_size = changes.count_scope(self.conn, self.who)
        return self.now_version <= 2 * self.scope_size

    def fill(self) -> None:
        if not self.filled:
            self.scope_size = changes.fill_scope(self.conn, self.who)
            self.filled = True

    def changes(self, since: int, limit: int) -> list[Change]:
        """In-scope changes after ``since``, oldest first, at most ``limit``."""
        if limit <= 0:
            return []
        if not self.filled and (self.walkable(since) or self.walkable_from_start(since)):
            return scopes.changes_since(self.conn, self.who, since, self.now_version, limit)
        self.fill()
        return changes.filled_changes(self.conn, since, limit)


def _scope_diff(plan: _Plan, since: int, diff_version: int | None, limit: int):  # type: ignore[no-untyped-def]
    """What the device holds that left its scope and what entered it older than ``since``:
    (removes, entering, more, whether the whole diff fits this page).

    Three depths, cheapest first. The scope as of now was diffed already: nothing. No job or
    site moved the scope since the last diff (and no tombstone was purged): only records changed
    since then can have left, and records that entered changed too, so the walk by version
    sends them. Otherwise the whole scope is materialised and compared with what the device holds.
    """
    conn, who = plan.conn, plan.who
    if diff_version == plan.now_version:
        return [], [], False, True
    if (
        diff_version is not None
        and plan.walkable(diff_version)
        and not changes.roots_moved(
            conn, who, diff_version, plan.now_version, partway=since < diff_version, purged_at=plan.purged_at
        )
    ):
        removes = changes.left_since(conn, who, diff_version, plan.now_version, limit + 1)
        more = len(removes) > limit
        return removes[:limit], [], more, not more
    plan.fill()
    removes, entering, more = _full_diff(conn, who.device_id, since, limit)
    return removes, entering, more, not more


def _acknowledge(conn: Tx, device: Any, cursor: str) -> tuple[int, int | None]:
    """Fold the staged page into ``device_scope`` if the device committed it; returns (since, diff)."""
    device_id = device["id"]
    if cursor == device["pending_cursor"]:
        changes.commit_pending(conn, device_id)
        return int(device["pending_seq"]), device["pending_diff"]
    if cursor == device["ack_cursor"]:
        if device["pending_cursor"] is not None:
            changes.drop_pending(conn, device_id)
        return int(device["ack_seq"] or 0), device["diff_version"]
    raise CursorReset("this cursor is no longer known: drop server records and pull from the start", field="cursor")


def _can_prefetch(conn: Tx, device: Any, cursor: str) -> bool:
    """Whether the page of ``cursor`` may be taken as acknowledged before the device committed
    it: it is the page waiting for acknowledgement, and going back to the acknowledged version
    would send all of it again."""
    return cursor == device["pending_cursor"] and changes.pending_walked_since(
        conn, device["id"], int(device["ack_seq"] or 0)
    )


def _full_diff(conn: Tx, device_id: str, since: int, limit: int):  # type: ignore[no-untyped-def]
    """What the device holds that left its scope, and what entered the scope older than
    ``since`` (``temp.scope_now`` filled): at most ``limit`` rows, and whether more remain."""
    removes, entering = changes.full_diff(conn, device_id, since, limit)
    rows = removes + entering
    more = len(rows) > limit
    rows = rows[:limit]
    cut = min(len(removes), len(rows))
    return rows[:cut], rows[cut:], more
