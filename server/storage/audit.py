"""The tamper-evident audit log: every accepted change appended to a SHA-256 hash chain.

Why a chain: the supervisor's archive must show that what the store says happened is what
happened. Each row names who changed which record, to which version, and the SHA-256 of that
record's canonical JSON; its ``hash`` covers the row and the previous row's hash. Editing,
deleting or re-ordering any row, or editing a record behind the server's back, breaks a link
that ``verify`` finds and names.

Rows are written inside the transaction that makes the change (a push, a scheduled job), so
the log and the store never disagree after a crash. The current head (``n:hash``) is also kept
in ``meta.audit_head``, so cutting rows off the end is caught too.

What the chain cannot prove: a writer with full access to the file can rebuild the whole
chain from the tampered row on. Exporting the head hash elsewhere now and then (it is
printed by ``field-server audit verify``) closes that gap.

>>> canonical_row(1, "2026-01-01T00:00:00+00:00", "u-1", "d-1", "push.patch", "site", "S-1", 7, "ab", "")
'[1,"2026-01-01T00:00:00+00:00","u-1","d-1","push.patch","site","S-1",7,"ab",""]'
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable, Iterable, NamedTuple

import msgspec

from . import reviews
from .base import Tx, bulk_insert, lock_change_log, pipelined, rows_later
from .records import current_version

GENESIS = "0" * 64
# The actor of server-side changes made by the scheduler.
SYSTEM_USER = "system"
SCHEDULER_DEVICE = "scheduler"


class Actor(NamedTuple):
    """Who made a change: a user and the device (or server component) they used."""

    user: str
    device: str


SCHEDULER = Actor(SYSTEM_USER, SCHEDULER_DEVICE)


class Row(NamedTuple):
    n: int
    at: str
    actor_user: str
    actor_device: str
    kind: str
    entity: str
    id: str
    version: int
    record_sha: str
    ref: str
    prev_hash: str
    hash: str


# The columns of ``audit_log`` in ``Row``'s order, with their PostgreSQL types (``bulk_insert``).
_ROW_COLUMNS = {name: "bigint" if name in ("n", "version") else "text" for name in Row._fields}


class Problem(NamedTuple):
    """One broken link: the audit row it is found at and what differs."""

    n: int
    what: str


class Report(NamedTuple):
    rows: int
    head: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.n) if self.problems else None


# Canonical JSON: keys sorted, no spacing, UTF-8 as is, floats in msgspec's shortest form
# (``1e16``, not ``1e+16``). msgspec, because every accepted change is hashed inside the push
# transaction and the json module made that a third of a push.
_canonical = msgspec.json.Encoder(order="sorted")
_untyped = msgspec.json.Decoder()


def record_sha(data: str | bytes, version: int, deleted: bool) -> str:
    """SHA-256 of a stored record: its JSON (canonicalised: key order and spacing do not count),
    its version and whether it is a tombstone.

    >>> record_sha('{"b": 1, "a": "x"}', 3, False) == record_sha('{"a":"x","b":1}', 3, False)
    True
    """
    doc = {"data": _untyped.decode(data), "deleted": bool(deleted), "version": version}
    return hashlib.sha256(_canonical.encode(doc)).hexdigest()


def record_sha_of(record: object, version: int, deleted: bool) -> str:
    """``record_sha`` of a record Struct as ``records.encode_record`` stores it, without its JSON
    round trip (a push hashes every record it writes): the canonical encoder sorts a Struct's
    fields, its tag included, exactly as it sorts the keys of the decoded JSON."""
    return hashlib.sha256(_canonical.encode({"data": record, "deleted": bool(deleted), "version": version})).hexdigest()


def canonical_row(
    n: int,
    at: str,
    actor_user: str,
    actor_device: str,
    kind: str,
    entity: str,
    record_id: str,
    version: int,
    sha: str,
    ref: str,
) -> str:
    """The text a row's hash covers (after the previous row's hash)."""
    return _canonical.encode([n, at, actor_user, actor_device, kind, entity, record_id, version, sha, ref]).decode()


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


_HEAD = "SELECT value FROM meta WHERE key='audit_head'"


def _head(conn: Tx) -> tuple[int, str]:
    return _parse_head(conn.execute(_HEAD).fetchone()[0])


def _parse_head(value: str) -> tuple[int, str]:
    n, _, last = value.partition(":")
    return int(n), last


class Chain:
    """The chain's head held for one write transaction: rows are hashed as they come and
    written together by ``flush``, so a push of thousands of changes reads and moves the head
    once instead of per row. Nothing else may append to the log until ``flush``."""

    def __init__(self, conn: Tx) -> None:
        """Takes the change-log lock (one chain across processes: nobody appends between the
        head's read and ``flush``) and asks for the head, read at the first ``append``. Made
        inside a ``pipelined`` block, both go in the block's one round trip on PostgreSQL, with
        whatever else the caller sends there (a push: the reads of its batch)."""
        self.conn = conn
        self.n: int
        self.prev: str
        self._pending: list[Row] = []
        self._at: dt.datetime | None = None
        self._stamp = ""
        lock_change_log(conn)
        self._head: Callable[[], list[Any]] | None = rows_later(conn, conn.execute(_HEAD))

    def _read_head(self) -> None:
        if self._head is not None:
            self.n, self.prev = _parse_head(self._head()[0][0])
            self._head = None

    def append(
        self,
        at: dt.datetime,
        actor: Actor,
        kind: str,
        entity: str,
        record_id: str,
        version: int,
        sha: str,
        ref: str = "",
    ) -> Row:
        self._read_head()
        self.n += 1
        if at is not self._at:  # a push stamps thousands of rows with one time
            self._at, self._stamp = at, at.astimezone(dt.timezone.utc).isoformat()
        stamp = self._stamp
        digest = chain_hash(
            self.prev,
            canonical_row(self.n, stamp, actor.user, actor.device, kind, entity, record_id, version, sha, ref),
        )
        row = Row(
            self.n, stamp, actor.user, actor.device, kind, entity, record_id, version, sha, ref, self.prev, digest
        )
        self._pending.append(row)
        self.prev = digest
        return row

    def flush(self) -> None:
        if not self._pending:
            return
        bulk_insert(self.conn, "audit_log", _ROW_COLUMNS, self._pending)
        self.conn.execute("UPDATE meta SET value=? WHERE key='audit_head'", (f"{self.n}:{self.prev}",))
        self._pending.clear()


def append(
    conn: Tx,
    at: dt.datetime,
    actor: Actor,
    kind: str,
    entity: str,
    record_id: str,
    version: int,
    sha: str,
    ref: str = "",
) -> Row:
    """Append one row (the caller holds the write transaction that made the change)."""
    with pipelined(conn):  # the lock and the head in one round trip on PostgreSQL
        chain = Chain(conn)
    row = chain.append(at, actor, kind, entity, record_id, version, sha, ref)
    chain.flush()
    return row


def append_record(
    conn: Tx,
    at: dt.datetime,
    actor: Actor,
    kind: str,
    entity: str,
    record_id: str,
    ref: str = "",
    chain: Chain | None = None,
) -> Row | None:
    """Append a row for a record as it is stored now; None if there is no such record."""
    row = conn.execute(
        "SELECT version, deleted, data FROM records WHERE entity=? AND id=?", (entity, record_id)
    ).fetchone()
    if row is None:
        return None
    if chain is None:
        return append(conn, at, actor, kind, entity, record_id, row[0], record_sha(row[2], row[0], bool(row[1])), ref)
    return chain.append(at, actor, kind, entity, record_id, row[0], record_sha(row[2], row[0], bool(row[1])), ref)


class Change(NamedTuple):
    """A record as a change left it: what its audit row names and hashes."""

    entity: str
    id: str
    version: int
    deleted: bool
    data: str
    record: object = None  # the Struct ``data`` encodes, when the caller holds it (faster to hash)


def stored_change(conn: Tx, entity: str, record_id: str) -> Change | None:
    """The record ``entity``/``record_id`` as the store holds it now, or None."""
    row = conn.execute(
        "SELECT version, deleted, data FROM records WHERE entity=? AND id=?", (entity, record_id)
    ).fetchone()
    return None if row is None else Change(entity, record_id, row[0], bool(row[1]), row[2])


def append_changes_since(
    conn: Tx,
    mark: int,
    at: dt.datetime,
    actor: Actor,
    kind: str,
    primary: tuple[str, str] | None = None,
    effect_kind: str = "",
    ref: str = "",
    chain: Chain | None = None,
) -> list[Row]:
    """Append a row for every record whose version moved past ``mark`` (the store's version
    before the change began), so that side effects are in the chain, not only the request.

    ``primary`` (entity, id) gets ``kind``; any other changed record gets ``effect_kind``.
    The primary record gets a row even when it did not change (an accepted no-op mutation is
    still an accepted mutation). With ``chain`` the rows wait in it for the caller's ``flush``.
    """
    own = chain is None
    if chain is None:
        with pipelined(conn):  # the lock and the head in one round trip on PostgreSQL
            chain = Chain(conn)
    # Bounded above by the transaction's own last version (exact: the change-log lock is held
    # since the mark). PostgreSQL plans an open ``version > ?`` on a store it has not analysed
    # yet (after migrate or load-fixtures) as a third of the table and reads all of it.
    changed = [
        Change(entity, record_id, version, bool(deleted), data)
        for entity, record_id, version, deleted, data in conn.execute(
            "SELECT entity, id, version, deleted, data FROM records "
            "WHERE version > ? AND version <= ? ORDER BY version",
            (mark, current_version(conn)),
        ).fetchall()
    ]
    rows = append_changes(
        chain, at, actor, kind, changed, primary, effect_kind, ref, lambda e, i: stored_change(conn, e, i)
    )
    if own:
        chain.flush()
    return rows


def append_changes(
    chain: Chain,
    at: dt.datetime,
    actor: Actor,
    kind: str,
    changed: Iterable[Change],
    primary: tuple[str, str] | None,
    effect_kind: str,
    ref: str,
    current: Callable[[str, str], Change | None],
) -> list[Row]:
    """``append_changes_since`` over changes the caller knows (a push batch holds its writes in
    memory, ``storage.batch``), in version order; ``current`` finds the primary record when the
    mutation did not change it."""
    rows: list[Row] = []
    seen_primary = False
    for change in changed:
        is_primary = primary is not None and (change.entity, change.id) == primary
        seen_primary = seen_primary or is_primary
        rows.append(
            chain.append(
                at,
                actor,
                kind if is_primary else (effect_kind or kind),
                change.entity,
                change.id,
                change.version,
                _sha(change),
                ref,
            )
        )
    if primary is not None and not seen_primary:
        found = current(*primary)
        if found is not None:
            sha = _sha(found)
            rows.insert(0, chain.append(at, actor, kind, *primary, found.version, sha, ref))
    return rows


def _sha(change: Change) -> str:
    if change.record is not None:
        return record_sha_of(change.record, change.version, change.deleted)
    return record_sha(change.data, change.version, change.deleted)


def rows(conn: Tx, after: int = 0, limit: int | None = None) -> Iterable[Row]:
    sql = "SELECT * FROM audit_log WHERE n > ? ORDER BY n" + (f" LIMIT {int(limit)}" if limit else "")
    for r in conn.execute(sql, (after,)):
        yield Row(*tuple(r))


def verify(conn: Tx) -> Report:
    """Check the whole chain, then every record against its latest audit row.

    A record whose stored version is newer than its latest audit row was changed by a path that
    does not audit (fixtures, older servers): it is not a broken link. A record whose version
    equals its latest audit row must hash to that row's ``record_sha``.
    """
    problems: list[Problem] = []
    latest: dict[tuple[str, str], Row] = {}
    expected_n, prev = 0, GENESIS
    count = 0
    for row in rows(conn):
        count += 1
        expected_n += 1
        if row.n != expected_n:
            problems.append(
                Problem(
                    row.n,
                    f"row {expected_n}"
                    + (f" to {row.n - 1} are missing" if row.n - 1 > expected_n else " is missing")
                    + f": row numbers jump from {expected_n - 1} to {row.n}",
                )
            )
            expected_n = row.n
        if row.prev_hash != prev:
            problems.append(
                Problem(
                    row.n,
                    f"row {row.n}: prev_hash {row.prev_hash[:12]}... is not the "
                    f"hash of row {row.n - 1} ({prev[:12]}...)",
                )
            )
        computed = chain_hash(
            row.prev_hash,
            canonical_row(
                row.n,
                row.at,
                row.actor_user,
                row.actor_device,
                row.kind,
                row.entity,
                row.id,
                row.version,
                row.record_sha,
                row.ref,
            ),
        )
        if computed != row.hash:
            problems.append(
                Problem(
                    row.n,
                    f"row {row.n} ({row.kind} {row.entity} {row.id} v{row.version}): "
                    f"its content does not match its hash (stored {row.hash[:12]}..., "
                    f"computed {computed[:12]}...)",
                )
            )
        prev = row.hash
        latest[(row.entity, row.id)] = row
    head_n, head_hash = _head(conn)
    if (head_n, head_hash) != (expected_n, prev):
        problems.append(
            Problem(
                min(head_n, expected_n) + 1,
                f"the log ends at row {expected_n} but the recorded head is row {head_n} "
                f"({head_hash[:12]}...): rows were cut off or added behind the server",
            )
        )
    problems += _check_records(conn, latest)
    return Report(count, prev, sorted(problems, key=lambda p: p.n))


# Rows about what is not a record: push answers, unfinished uploads and files housekeeping removed.
_NOT_RECORDS = frozenset({"applied", "uploads", "blob"})


def _stored(conn: Tx, entity: str, record_id: str) -> tuple[int, int, str] | None:
    """(version, deleted, canonical JSON) of what an audit row names: a record, or a review."""
    if entity == reviews.ENTITY:
        review = reviews.get(conn, record_id)
        return None if review is None else (review.version, 0, review.data())
    row = conn.execute("SELECT version, deleted, data FROM records WHERE entity=? AND id=?", (entity, record_id))
    found = row.fetchone()
    return None if found is None else (found[0], found[1], found[2])


def _check_records(conn: Tx, latest: dict[tuple[str, str], Row]) -> list[Problem]:
    problems = []
    for (entity, record_id), row in latest.items():
        if entity in _NOT_RECORDS:
            continue
        stored = _stored(conn, entity, record_id)
        if stored is None:
            if not row.kind.endswith("purge_tombstone"):
                problems.append(
                    Problem(row.n, f"row {row.n}: {entity} {record_id} v{row.version} is missing from the store")
                )
            continue
        version, deleted, data = stored
        if version < row.version:
            problems.append(
                Problem(
                    row.n,
                    f"row {row.n}: {entity} {record_id} is at version {version} in "
                    f"the store, older than the audited version {row.version}",
                )
            )
        elif version == row.version and record_sha(data, version, bool(deleted)) != row.record_sha:
            problems.append(
                Problem(
                    row.n,
                    f"row {row.n}: {entity} {record_id} v{version} in the store "
                    f"does not hash to the audited record_sha "
                    f"({row.record_sha[:12]}...): the record was changed",
                )
            )
    return problems
