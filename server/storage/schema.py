"""The server's schema, created and migrated by the server itself.

Migrations are numbered functions applied in order inside one transaction each; the number
reached is stored in ``meta.schema_version``. Add a migration, never edit one that shipped.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from typing import Callable, cast

import msgspec
import sqlite_utils

from sync_protocol import Record, bounds

from .base import Tx
from . import audit, records


def _v1(conn: Tx) -> None:
    db = sqlite_utils.Database(cast(sqlite3.Connection, conn))
    db["users"].create(
        {"id": str, "name": str, "display_name": str, "role": str, "created_at": str, "active": int},
        pk="id",
        strict=True,
    )
    db["users"].create_index(["name"], unique=True)
    db["devices"].create(
        {
            "id": str,
            "user_id": str,
            "name": str,
            "platform": str,
            "token_hash": str,
            "created_at": str,
            "revoked_at": str,
            "last_seen_at": str,
            "high_seq": int,  # highest applied push seq (kept forever)
            "cursor_n": int,  # counter behind the cursors issued
            "ack_cursor": str,
            "ack_seq": int,  # the last page the device committed
            "pending_cursor": str,
            "pending_seq": int,
            "pending_diff": int,
            "diff_version": int,  # store version at the last complete scope diff
        },
        pk="id",
        not_null={"user_id", "token_hash"},
        defaults={"high_seq": 0, "cursor_n": 0},
        foreign_keys=[("user_id", "users", "id")],
        strict=True,
    )
    db["devices"].create_index(["token_hash"], unique=True)
    db["enrollments"].create(
        {"token_hash": str, "user_id": str, "created_at": str, "expires_at": str, "used_at": str, "device_id": str},
        pk="token_hash",
        foreign_keys=[("user_id", "users", "id")],
        strict=True,
    )
    conn.execute("""
        CREATE TABLE records (
            entity TEXT NOT NULL, id TEXT NOT NULL,
            version INTEGER NOT NULL,            -- server sequence of the last change
            deleted INTEGER NOT NULL DEFAULT 0,  -- tombstone
            parent TEXT,                         -- the record this one hangs off (see records.py)
            assignee TEXT, status TEXT,          -- jobs and conflicts: who and where
            data TEXT NOT NULL,                  -- the record's JSON
            fields TEXT NOT NULL DEFAULT '{}',   -- per-field FieldVersion, for three-way merges
            PRIMARY KEY (entity, id)
        ) WITHOUT ROWID""")
    conn.execute("CREATE UNIQUE INDEX records_version ON records(version)")
    conn.execute("CREATE INDEX records_parent ON records(entity, parent)")
    conn.execute("CREATE INDEX records_assignee ON records(entity, assignee)")
    conn.execute("""
        CREATE TABLE applied (
            device_id TEXT NOT NULL, seq INTEGER NOT NULL, answer BLOB NOT NULL,
            applied_at TEXT NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID""")
    conn.execute("""
        CREATE TABLE device_scope (
            device_id TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL,
            PRIMARY KEY (device_id, entity, id)) WITHOUT ROWID""")
    conn.execute("""
        CREATE TABLE device_scope_pending (
            device_id TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, op TEXT NOT NULL,
            PRIMARY KEY (device_id, entity, id)) WITHOUT ROWID""")
    db["serials"].create({"serial": str, "equipment_id": str, "event_id": str, "job_id": str}, pk="serial", strict=True)
    db["blobs"].create(
        {"sha256": str, "size": int, "media_type": str, "uploaded_by": str, "created_at": str}, pk="sha256", strict=True
    )
    db["uploads"].create(
        {"sha256": str, "size": int, "received": int, "user_id": str, "started_at": str}, pk="sha256", strict=True
    )
    conn.execute("INSERT INTO meta(key, value) VALUES ('version', '0')")
    conn.execute("INSERT INTO meta(key, value) VALUES ('secret', ?)", (secrets.token_hex(32),))


def _v2(conn: Tx) -> None:
    """The tamper-evident audit log and the state of the scheduled jobs (see audit.py, scheduler.py).

    APScheduler keeps its jobs in memory only (it has no plain-SQLite job store), so whatever a
    scheduled job must remember across restarts lives here: when each job last ran, which
    preventive-maintenance dates were generated, and since when a tombstone has been seen.
    """
    conn.execute("""
        CREATE TABLE audit_log (
            n INTEGER PRIMARY KEY,               -- 1, 2, 3, ...: a gap is a deleted row
            at TEXT NOT NULL,                    -- ISO 8601, UTC
            actor_user TEXT NOT NULL, actor_device TEXT NOT NULL,
            kind TEXT NOT NULL,                  -- push.event, push.patch, push.effect, sla.escalate, ...
            entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
            record_sha TEXT NOT NULL,            -- sha256 of the record's canonical JSON at that version
            ref TEXT NOT NULL DEFAULT '',        -- what caused it, for people (device seq, rule)
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL
        ) STRICT""")
    conn.execute("CREATE INDEX audit_log_record ON audit_log(entity, id, n)")
    # Append-only for honest code; the hash chain is what catches whoever drops these.
    conn.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    conn.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    conn.execute("INSERT INTO meta(key, value) VALUES ('audit_head', ?)", ("0:" + "0" * 64,))
    conn.execute("""
        CREATE TABLE scheduler_runs (
            job_id TEXT PRIMARY KEY, runs INTEGER NOT NULL DEFAULT 0,
            last_started_at TEXT, last_finished_at TEXT, last_ok_at TEXT,
            last_result TEXT, last_error TEXT) STRICT""")
    conn.execute("""
        CREATE TABLE maintenance_plan (
            site_id TEXT NOT NULL, due_date TEXT NOT NULL, job_id TEXT NOT NULL,
            created_at TEXT NOT NULL, PRIMARY KEY (site_id, due_date)) STRICT, WITHOUT ROWID""")
    conn.execute("""
        CREATE TABLE tombstone_seen (
            entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
            first_seen_at TEXT NOT NULL, PRIMARY KEY (entity, id)) STRICT, WITHOUT ROWID""")


def _v3(conn: Tx) -> None:
    """Planner statistics for ``records``. ``records`` is WITHOUT ROWID, clustered on (entity, id);
    with no statistics SQLite answers "events of job J" by walking every event in the primary key
    instead of using ``records_parent``, which made each push and pull cost in proportion to the
    whole records. These figures describe the shape (many records per entity, few per parent or
    assignee); a later ``ANALYZE`` replaces them with measured ones."""
    conn.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if it does not exist
    conn.execute("DELETE FROM sqlite_stat1 WHERE tbl='records'")
    conn.executemany(
        "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES ('records', ?, ?)",
        [
            ("records", "100000 12000 1"),
            ("records_parent", "100000 12000 8"),
            ("records_assignee", "100000 12000 2000"),
            ("records_version", "100000 1"),
        ],
    )
    conn.execute("ANALYZE sqlite_schema")  # reload the statistics


def _v4(conn: Tx) -> None:
    """What a device holds remembers each record's ``parent`` (a job's site, a site's customer),
    so that a pull can tell whether a changed job or site moved the device's scope, and diff the
    whole scope only then. Rows held from before get today's parent and every device diffs in
    full once."""
    for table in ("device_scope", "device_scope_pending"):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN parent TEXT")
    conn.execute(
        "UPDATE device_scope SET parent=(SELECT r.parent FROM records r WHERE "
        "r.entity=device_scope.entity AND r.id=device_scope.id)"
    )
    conn.execute("UPDATE devices SET diff_version=NULL, pending_diff=NULL")


def _v5(conn: Tx) -> None:
    """The size of each device's scope at its last full diff: a pull compares it with the
    versions it would walk to choose the cheaper way to read the scope (``pull._Plan``)."""
    conn.execute("ALTER TABLE devices ADD COLUMN scope_size INTEGER")


def _v6(conn: Tx) -> None:
    """The hybrid-clock stamp of the mutation applied at each device's ``high_seq``, kept forever
    beside it: a laptop restored from an old copy of its store compares it with its own mutation
    of that seq to learn that its outbox was overtaken (docs/protocol.md, "Renumbering")."""
    conn.execute("ALTER TABLE devices ADD COLUMN high_hlc TEXT")


def _v7(conn: Tx) -> None:
    """Disk has limits: an unfinished upload is charged to the device that started it (a quota on
    bytes in flight) and expires when nobody adds to it; a complete file remembers which device
    uploaded it and when it was last touched, so housekeeping can collect the files nothing names
    (``housekeeping.py``). ``uploads`` was never written before this version: it is made anew.
    Unused enrollment tokens can be revoked (``field-server enrollment revoke``)."""
    conn.execute("DROP TABLE uploads")
    conn.execute("""
        CREATE TABLE uploads (
            sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,   -- the size declared when it began
            device_id TEXT NOT NULL, user_id TEXT NOT NULL,    -- whose quota it counts against
            started_at TEXT NOT NULL, updated_at TEXT NOT NULL -- its last chunk: expiry counts from it
        ) STRICT""")
    conn.execute("CREATE INDEX uploads_device ON uploads(device_id)")
    conn.execute("ALTER TABLE blobs ADD COLUMN device_id TEXT")
    conn.execute("ALTER TABLE blobs ADD COLUMN touched_at TEXT")
    conn.execute("UPDATE blobs SET touched_at = created_at")
    # An enrollment token handed out by mistake is cancelled before anyone uses it.
    conn.execute("ALTER TABLE enrollments ADD COLUMN revoked_at TEXT")


def _v8(conn: Tx) -> None:
    """Every list, map and text of the protocol is bounded now (``sync_protocol/bounds.py``): a
    record written before that (an equipment with 60,000 parameters) is cut to its bounds once,
    under a new version (laptops receive the cut record), each cut in the audit chain."""
    decoder = msgspec.json.Decoder(Record)
    now = dt.datetime.now(dt.timezone.utc)
    for entity, record_id, data in conn.execute("SELECT entity, id, data FROM records WHERE deleted=0").fetchall():
        try:
            decoder.decode(data)
        except msgspec.ValidationError:
            record, cuts = records.within_bounds(data)
            base: records.Stored[Record] | None = records.get(conn, str(entity), str(record_id))
            records.put(conn, record, base)
            audit.append_record(
                conn,
                now,
                audit.Actor(audit.SYSTEM_USER, "migration"),
                "migration.within_bounds",
                entity,
                record_id,
                ref="; ".join(cuts)[:1000],
            )


def _v9(conn: Tx) -> None:
    """A pull may prefetch (docs/protocol.md, pull): the server takes the page a laptop is still
    committing as acknowledged and remembers the cursor before it, its version and its diff, so
    that a laptop that died committing that page resumes from it (``changes.go_back``)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(devices)")}
    for column, kind in (("prior_cursor", "TEXT"), ("prior_seq", "INTEGER"), ("prior_diff", "INTEGER")):
        if column not in have:  # a store set back to an older schema number runs this again
            conn.execute(f"ALTER TABLE devices ADD COLUMN {column} {kind}")


def _v10(conn: Tx) -> None:
    """The supervisor's reviews of audit findings (``reviews.py``): the office's own notes, kept
    outside ``records`` so that no pull carries them to a laptop."""
    conn.execute("""
        CREATE TABLE IF NOT EXISTS finding_reviews (
            id TEXT PRIMARY KEY,                 -- the finding: "{job_id}|{engineer}"
            job_id TEXT NOT NULL, engineer TEXT NOT NULL,
            version INTEGER NOT NULL,            -- 1, 2, ...: each review of the finding
            reviewed_by TEXT NOT NULL,           -- user id
            reviewed_at TEXT NOT NULL,           -- ISO 8601, UTC
            comment TEXT NOT NULL
        ) STRICT""")


def _v11(conn: Tx) -> None:
    """Office sessions in the database (``storage.sessions``), for PostgreSQL's several server
    processes; on SQLite the office keeps them in its file store, and the table stays empty."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS office_sessions (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
    )


def _v12(conn: Tx) -> None:
    """Which device's push appended a record as its own event, at which version, when that push
    said the laptop keeps it (``PushRequest.keeps_events``; ``batch.origin_mark``). A pull of
    that device does not send the record back while it stands at that version."""
    if "origin" not in {row[1] for row in conn.execute("PRAGMA table_info(records)")}:  # see _v9
        conn.execute("ALTER TABLE records ADD COLUMN origin TEXT")


def _v13(conn: Tx) -> None:
    """No text of the protocol may hold a NUL now (``bounds.nul_path``): see ``without_nul``."""
    without_nul(conn)


def without_nul(conn: Tx) -> None:
    """Every record a server stored with a NUL in a text, before the protocol refused one, has
    it made U+FFFD once, under a new version (laptops receive the mended record), each in the
    audit chain. On PostgreSQL such a record broke every query that reads inside records."""
    now = dt.datetime.now(dt.timezone.utc)
    rows = conn.execute("SELECT entity, id, data FROM records WHERE deleted=0").fetchall()
    for entity, record_id, data in rows:
        if "\\u0000" not in data or bounds.nul_path(json.loads(data)) is None:
            continue
        record = msgspec.convert(bounds.without_nul(json.loads(data)), Record)
        records.put(conn, record, records.get(conn, str(entity), str(record_id)))
        audit.append_record(
            conn, now, audit.Actor(audit.SYSTEM_USER, "migration"), "migration.without_nul", entity, record_id
        )


MIGRATIONS: list[Callable[[Tx], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Tx) -> int:
    """Bring the store to ``SCHEMA_VERSION``; returns the version it started at."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    start = int(row[0]) if row else 0
    if start > SCHEMA_VERSION:
        raise RuntimeError(f"store schema {start} is newer than this server ({SCHEMA_VERSION}): upgrade the server")
    for number in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number](conn)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(number + 1),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return start
