"""Who may see what: the per-engineer scope, computed in SQL from the records' index columns.

An engineer's scope is their jobs in a field status, those jobs' events, sites, customers,
equipment and drawings, the parts catalog, their own van's stock, and the conflicts about their
work. Office roles see everything. ``fill_scope`` materialises a scope into the temporary table
``scope_now`` so that a pull can diff it against what the device holds (``device_scope``).
"""

from __future__ import annotations


from sync_protocol import van
from sync_protocol.states import IN_FIELD_SCOPE

from .base import Tx, execute_prepared, is_postgres
from ..principal import OFFICE_ROLES, Principal

# The statuses of ``sync_protocol.states.IN_FIELD_SCOPE``, as SQL.
_STATUS_LIST = ", ".join(f"'{s}'" for s in sorted(IN_FIELD_SCOPE))

# The engineer's jobs, their sites and those sites' customers: a few hundred ids at most, from
# which every rule below follows.
_ROOTS = f"""
WITH jobs AS (SELECT id, parent AS site_id FROM records
              WHERE entity='job' AND assignee=:user AND deleted=0 AND status IN ({_STATUS_LIST})),
     sites AS (SELECT DISTINCT site_id FROM jobs),
     customers AS (SELECT parent AS customer_id FROM records
                   WHERE entity='site' AND id IN (SELECT site_id FROM sites))
"""

# The engineer's scope, once: which records of each entity are in it (for non-deleted records).
ENGINEER_RULES: dict[str, str] = {
    "job": "id IN (SELECT id FROM jobs)",
    "event": "parent IN (SELECT id FROM jobs)",
    "site": "id IN (SELECT site_id FROM sites)",
    "equipment": "parent IN (SELECT site_id FROM sites)",
    "drawing": "parent IN (SELECT site_id FROM sites)",
    "customer": "id IN (SELECT customer_id FROM customers)",
    "part": "TRUE",
    "stock": "parent=:van",
    "conflict": "(assignee=:user OR parent IN (SELECT id FROM jobs))",
}

# As a set, one indexed query per entity: what a scope diff materialises.
_ENGINEER_SCOPE = _ROOTS + "\nUNION ALL ".join(
    f"SELECT entity, id, version FROM records WHERE entity='{entity}' AND deleted=0 AND {rule}"
    for entity, rule in ENGINEER_RULES.items()
)
# As a test on one row ``r`` of records: what a walk by version filters with.
_ENGINEER_TEST = "(" + " OR ".join(f"(entity='{entity}' AND {rule})" for entity, rule in ENGINEER_RULES.items()) + ")"

_OFFICE_SCOPE = "SELECT entity, id, version FROM records WHERE deleted=0"

# The scope's size as a pull plans by it (``count_scope``), tombstones included: each rule alone
# reads only the columns of the parent and assignee indexes, which hold the key, where the
# exact count reads every row for ``deleted`` (8 against 228 ms for a scope of 101,390 records,
# on the critical path of a laptop's first page).
_ENGINEER_SIZE = (
    _ROOTS
    + "SELECT "
    + " + ".join(f"(SELECT count(*) FROM records WHERE entity='{e}' AND {r})" for e, r in ENGINEER_RULES.items())
)
_OFFICE_SIZE = "SELECT count(*) FROM records"


def _params(principal: Principal) -> dict[str, str]:
    return {"user": principal.user_id, "van": van(principal.user_id)}


def scope_query(principal: Principal) -> tuple[str, dict[str, str]]:
    if principal.is_engineer:
        return _ENGINEER_SCOPE, _params(principal)
    return _OFFICE_SCOPE, {}


def fill_scope(conn: Tx, principal: Principal) -> int:
    """Materialise the caller's current scope into ``temp.scope_now``; returns its size."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS scope_now (entity TEXT NOT NULL, id TEXT NOT NULL, "
        "version INTEGER NOT NULL, PRIMARY KEY (entity, id)) WITHOUT ROWID"
    )
    conn.execute("DELETE FROM temp.scope_now")
    sql, params = scope_query(principal)
    size = int(conn.execute(f"INSERT OR IGNORE INTO temp.scope_now (entity, id, version) {sql}", params).rowcount)
    if is_postgres(conn):
        # Autovacuum never analyses a temporary table: without its statistics PostgreSQL joined
        # a pull's few changed records of the scope to all of ``records`` by a hash over the
        # whole table (9.4 against 2.1 ms at 21,390 records; two of these queries per pull).
        conn.execute("ANALYZE temp.scope_now")
    return size


def count_scope(conn: Tx, principal: Principal) -> int:
    """About how many records the caller's scope holds: its tombstones too (not yet purged),
    which a walk by version reads as well. For planning only: never for what is sent."""
    sql, params = (_ENGINEER_SIZE, _params(principal)) if principal.is_engineer else (_OFFICE_SIZE, {})
    return int(conn.execute(sql, params).fetchone()[0])


def scope_test(principal: Principal) -> tuple[str, str, dict[str, str]]:
    """The scope as a test on one row of ``records``: (the ``WITH`` clause the test needs, the
    test, its parameters). The test holds for records in scope unless deleted."""
    if principal.is_engineer:
        return _ROOTS, _ENGINEER_TEST, _params(principal)
    return "", "TRUE", {}


def changes_since(
    conn: Tx, principal: Principal, since: int, until: int, limit: int
) -> list[tuple[str, str, int, str, str | None, str | None]]:
    """The caller's in-scope records changed after ``since``, oldest first, at most ``limit``,
    as (entity, id, version, data, parent, origin): a walk of the version index from ``since`` that stops
    when the page is full, so the pages of a long pull cost the same instead of each re-reading
    the whole scope. Bounded above by ``until``, the version the page is computed at: PostgreSQL
    keeps a prepared statement's generic plan only when it costs no more than a custom one, and
    plans an open ``version > $n`` as a third of the table, so it planned the walk afresh at
    every pull (0.3-0.45 ms, more than the walk itself)."""
    with_clause, test, params = scope_test(principal)
    sql = (
        with_clause + "SELECT entity, id, version, data, parent, origin FROM records WHERE version > :since "
        f"AND version <= :until AND deleted=0 AND {test} ORDER BY version LIMIT :limit"
    )
    parameters = {**params, "since": since, "until": until, "limit": limit}
    return [tuple(row) for row in execute_prepared(conn, sql, parameters)]


def job_is_workable(conn: Tx, principal: Principal, job_assignee: str | None, job_id: str) -> bool:
    """May this device record work on the job: its own, or one it still holds from before a re-assignment."""
    if not principal.is_engineer or job_assignee == principal.user_id:
        return True
    return held_by_device(conn, principal, "job", job_id)


def held_by_device(conn: Tx, principal: Principal, entity: str, record_id: str) -> bool:
    """The device still holds the record: it has not acknowledged a page removing it. Work made
    on it offline, before the device could know it left the scope, is the engineer's to push.
    A page the device was sent but has not acknowledged yet counts: it pushes before it pulls.
    (A page walked by version is in ``device_scope`` from the moment it is sent, and stays if
    the device loses it: each of its records was in the device's scope when sent.)"""
    return (
        conn.execute(
            "SELECT 1 FROM device_scope WHERE device_id=:d AND entity=:e AND id=:i UNION ALL "
            "SELECT 1 FROM device_scope_pending WHERE device_id=:d AND entity=:e AND id=:i AND op='add'",
            {"d": principal.device_id, "e": entity, "i": record_id},
        ).fetchone()
        is not None
    )


def record_in_scope(conn: Tx, principal: Principal, entity: str, record_id: str) -> bool:
    """May this engineer's device change the record: in their scope now, or still held by the
    device from before it left (a site edit made on site, then the job was re-assigned)."""
    if not principal.is_engineer:
        return True
    row = conn.execute(
        _ROOTS + f"SELECT 1 FROM records WHERE entity=:entity AND id=:rid AND deleted=0 AND {_ENGINEER_TEST}",
        {**_params(principal), "entity": entity, "rid": record_id},
    ).fetchone()
    return row is not None or held_by_device(conn, principal, entity, record_id)


def blob_visible(conn: Tx, principal: Principal, sha256: str) -> bool:
    """May this device read a blob? Office roles read every file. An engineer reads a file only
    through a record in their current scope that names it: a drawing of one of their sites, or a
    photo or signature on one of their jobs, and then only if that file came from the job's
    engineers (its assignee, or someone who recorded work on it) or from the office (an office
    user's upload that is no drawing's file). Knowing a hash is not enough: naming another
    site's drawing or another job's signature in an event of one's own opens nothing."""
    if not principal.is_engineer:
        return True
    params = {"user": principal.user_id, "sha": sha256}
    drawing = conn.execute(
        f"SELECT 1 FROM records d JOIN records j ON j.entity='job' AND j.parent=d.parent "
        f"WHERE d.entity='drawing' AND d.deleted=0 AND json_extract(d.data, '$.sha256')=:sha "
        f"AND j.assignee=:user AND j.deleted=0 AND j.status IN ({_STATUS_LIST}) LIMIT 1",
        params,
    ).fetchone()
    if drawing:
        return True
    uploader = conn.execute(
        "SELECT b.uploaded_by, u.role FROM blobs b LEFT JOIN users u ON u.id=b.uploaded_by WHERE b.sha256=:sha", params
    ).fetchone()
    if uploader is None:
        return False
    office = (
        uploader[1] in OFFICE_ROLES
        and conn.execute(
            "SELECT 1 FROM records WHERE entity='drawing' AND json_extract(data, '$.sha256')=:sha LIMIT 1", params
        ).fetchone()
        is None
    )
    event = conn.execute(
        f"SELECT 1 FROM records j JOIN records e ON e.entity='event' AND e.parent=j.id "
        f"WHERE j.entity='job' AND j.assignee=:user AND j.deleted=0 AND j.status IN ({_STATUS_LIST}) "
        f"AND json_extract(e.data, '$.payload.kind') IN ('photo', 'signature') "
        f"AND (json_extract(e.data, '$.payload.sha256')=:sha OR json_extract(e.data, '$.payload.image_sha256')=:sha) "
        f"AND (:office OR j.assignee=:uploader OR EXISTS (SELECT 1 FROM records a WHERE a.entity='event' "
        f"     AND a.parent=j.id AND json_extract(a.data, '$.author')=:uploader)) LIMIT 1",
        {**params, "office": office, "uploader": uploader[0]},
    ).fetchone()
    return event is not None
