"""The server's schema on PostgreSQL, versioned like SQLite's (``schema.py``): the same version
numbers (a laptop is told ``SCHEMA_VERSION`` whichever backend answers), recorded one row per
version in the ``schema_version`` table.

A new PostgreSQL database starts at the shape SQLite reaches after its migrations 1 to 8
(``_v8``): there is no older PostgreSQL store to bring forward. A later version adds one
function to ``MIGRATIONS`` here and one to ``schema.MIGRATIONS``.

The columns mirror SQLite's, in the same order (``audit.rows`` reads rows by position):
records keep their JSON as text (a pull splices it into the page as it is; queries look inside
it as ``jsonb``, see ``dialect.py``), answers are ``bytea``, timestamps ISO 8601 text. Two SQL
functions give SQLite's ``julianday`` and ``datetime('now')`` their meaning here.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

from .schema import SCHEMA_VERSION, without_nul

MIGRATION_LOCK = 0x66_73_79_6E_63_01  # one process migrates; the others wait and find it done

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id TEXT PRIMARY KEY, name TEXT, display_name TEXT, role TEXT, created_at TEXT, active INTEGER);
CREATE UNIQUE INDEX idx_users_name ON users(name);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), name TEXT, platform TEXT,
    token_hash TEXT NOT NULL, created_at TEXT, revoked_at TEXT, last_seen_at TEXT,
    high_seq BIGINT DEFAULT 0, cursor_n BIGINT DEFAULT 0, ack_cursor TEXT, ack_seq BIGINT,
    pending_cursor TEXT, pending_seq BIGINT, pending_diff BIGINT, diff_version BIGINT,
    scope_size BIGINT, high_hlc TEXT);
CREATE UNIQUE INDEX idx_devices_token_hash ON devices(token_hash);
CREATE TABLE enrollments (
    token_hash TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), created_at TEXT, expires_at TEXT,
    used_at TEXT, device_id TEXT, revoked_at TEXT);
CREATE TABLE records (
    entity TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    parent TEXT, assignee TEXT, status TEXT, data TEXT NOT NULL, fields TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (entity, id));
CREATE UNIQUE INDEX records_version ON records(version);
CREATE INDEX records_parent ON records(entity, parent);
CREATE INDEX records_assignee ON records(entity, assignee);
CREATE TABLE applied (
    device_id TEXT NOT NULL, seq BIGINT NOT NULL, answer BYTEA NOT NULL, applied_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq));
CREATE TABLE device_scope (
    device_id TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, parent TEXT,
    PRIMARY KEY (device_id, entity, id));
CREATE TABLE device_scope_pending (
    device_id TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, op TEXT NOT NULL, parent TEXT,
    PRIMARY KEY (device_id, entity, id));
CREATE TABLE serials (serial TEXT PRIMARY KEY, equipment_id TEXT, event_id TEXT, job_id TEXT);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY, size BIGINT, media_type TEXT, uploaded_by TEXT, created_at TEXT,
    device_id TEXT, touched_at TEXT);
CREATE TABLE uploads (
    sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, device_id TEXT NOT NULL, user_id TEXT NOT NULL,
    started_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX uploads_device ON uploads(device_id);
CREATE TABLE audit_log (
    n BIGINT PRIMARY KEY, at TEXT NOT NULL, actor_user TEXT NOT NULL, actor_device TEXT NOT NULL,
    kind TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL,
    record_sha TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '', prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_log_record ON audit_log(entity, id, n);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TABLE scheduler_runs (
    job_id TEXT PRIMARY KEY, runs BIGINT NOT NULL DEFAULT 0, last_started_at TEXT, last_finished_at TEXT,
    last_ok_at TEXT, last_result TEXT, last_error TEXT);
CREATE TABLE maintenance_plan (
    site_id TEXT NOT NULL, due_date TEXT NOT NULL, job_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, due_date));
CREATE TABLE tombstone_seen (
    entity TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, first_seen_at TEXT NOT NULL,
    PRIMARY KEY (entity, id));
CREATE FUNCTION julianday(t TEXT) RETURNS DOUBLE PRECISION LANGUAGE sql STABLE AS $$
    SELECT extract(epoch FROM (CASE WHEN t = 'now' THEN now() ELSE t::timestamptz END)) / 86400.0 + 2440587.5 $$;
CREATE FUNCTION datetime(t TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT to_char((CASE WHEN t = 'now' THEN now() ELSE t::timestamptz END) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD HH24:MI:SS') $$;
"""


def _v8(tx: Any) -> None:
    """Everything SQLite's migrations 1 to 8 made, at once."""
    for statement in _TABLES.split(";\n"):
        if statement.strip():
            tx.conn.execute(statement)
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('version', '0')")
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('secret', %s)", (secrets.token_hex(32),))
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('audit_head', %s)", ("0:" + "0" * 64,))


def _v9(tx: Any) -> None:
    """A pull may prefetch: the cursor before the page a laptop is still committing (``schema._v9``)."""
    for column, kind in (("prior_cursor", "TEXT"), ("prior_seq", "BIGINT"), ("prior_diff", "BIGINT")):
        tx.conn.execute(f"ALTER TABLE devices ADD COLUMN IF NOT EXISTS {column} {kind}")


def _v10(tx: Any) -> None:
    """The supervisor's reviews of audit findings (``schema._v10``), outside ``records``."""
    tx.conn.execute(
        "CREATE TABLE IF NOT EXISTS finding_reviews (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, "
        "engineer TEXT NOT NULL, version BIGINT NOT NULL, reviewed_by TEXT NOT NULL, "
        "reviewed_at TEXT NOT NULL, comment TEXT NOT NULL)"
    )


def _v11(tx: Any) -> None:
    """Office sessions in the database (``storage.sessions``): several processes share them."""
    tx.conn.execute(
        "CREATE TABLE IF NOT EXISTS office_sessions (key TEXT PRIMARY KEY, value BYTEA NOT NULL, "
        "expires_at DOUBLE PRECISION)"
    )


def _v12(tx: Any) -> None:
    """Which device appended a record's current version as its own kept event (``schema._v12``)."""
    tx.conn.execute("ALTER TABLE records ADD COLUMN IF NOT EXISTS origin TEXT")


def _v13(tx: Any) -> None:
    """A NUL stored in a record's text becomes U+FFFD (``schema.without_nul``): jsonb holds none."""
    without_nul(tx)


# version -> the migration that reaches it; a new database runs them all, from the first.
MIGRATIONS: dict[int, Callable[[Any], None]] = {8: _v8, 9: _v9, 10: _v10, 11: _v11, 12: _v12, 13: _v13}


def migrate(tx: Any) -> int:
    """Bring the database to ``SCHEMA_VERSION``; returns the version it started at. ``tx`` is a
    ``PgTx`` with no transaction open; each step commits on its own, under an advisory lock."""
    conn = tx.conn
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        start = int(row[0]) if row and row[0] is not None else 0
        if start > SCHEMA_VERSION:
            raise RuntimeError(f"store schema {start} is newer than this server ({SCHEMA_VERSION}): upgrade the server")
        for number in sorted(MIGRATIONS):
            if number <= start:
                continue
            MIGRATIONS[number](tx)
            conn.execute("INSERT INTO schema_version(version, applied_at) VALUES (%s, now()::text)", (number,))
    return start
