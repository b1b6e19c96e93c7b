"""The scheduled jobs' memory (APScheduler keeps none): when each job last ran, which preventive
checks were planned, and what housekeeping sweeps: old push answers and old tombstones.

What housekeeping may delete, and why that never breaks exactly-once or a pull, is explained in
``server.housekeeping``; the statements are here.
"""

from __future__ import annotations

from typing import Any

from .base import Tx, is_postgres

# Runs


def record_run(
    tx: Tx, job_id: str, started: str, finished: str, ok: str | None, result: str | None, error: str | None
) -> None:
    tx.execute(
        "INSERT INTO scheduler_runs(job_id, runs, last_started_at, last_finished_at, last_ok_at, "
        "last_result, last_error) VALUES (?, 1, ?, ?, ?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET "
        "runs=scheduler_runs.runs+1, last_started_at=excluded.last_started_at, "
        "last_finished_at=excluded.last_finished_at, "
        "last_ok_at=COALESCE(excluded.last_ok_at, scheduler_runs.last_ok_at), "
        "last_result=COALESCE(excluded.last_result, scheduler_runs.last_result), last_error=excluded.last_error",
        (job_id, started, finished, ok, result, error),
    )


def last_runs(tx: Tx) -> dict[str, dict[str, Any]]:
    return {r["job_id"]: dict(r) for r in tx.execute("SELECT * FROM scheduler_runs ORDER BY job_id")}


# Preventive maintenance


def planned_dates(tx: Tx, site_id: str) -> set[str]:
    """The due dates (ISO) of the checks generated for a site so far."""
    return {row[0] for row in tx.execute("SELECT due_date FROM maintenance_plan WHERE site_id=?", (site_id,))}


def plan(tx: Tx, site_id: str, due_date: str, job_id: str, created_at: str) -> None:
    tx.execute(
        "INSERT INTO maintenance_plan(site_id, due_date, job_id, created_at) VALUES (?,?,?,?)",
        (site_id, due_date, job_id, created_at),
    )


# Housekeeping


def old_answers(tx: Tx, cutoff: str) -> list[tuple[str, int]]:
    """(device, seq) of the stored push answers older than ``cutoff`` (ISO 8601)."""
    return [
        (r[0], r[1])
        for r in tx.execute(
            "SELECT device_id, seq FROM applied WHERE julianday(applied_at) < julianday(?) ORDER BY device_id, seq",
            (cutoff,),
        )
    ]


def delete_old_answers(tx: Tx, cutoff: str) -> None:
    tx.execute("DELETE FROM applied WHERE julianday(applied_at) < julianday(?)", (cutoff,))


def note_tombstones(tx: Tx, now: str) -> int:
    """Start the clock on tombstones not seen before; forget ones whose record came back.
    Returns how many were seen for the first time."""
    tx.execute(
        "DELETE FROM tombstone_seen WHERE NOT EXISTS (SELECT 1 FROM records r WHERE "
        "r.entity=tombstone_seen.entity AND r.id=tombstone_seen.id AND r.deleted=1 "
        "AND r.version=tombstone_seen.version)"
    )
    cur = tx.execute(
        "INSERT INTO tombstone_seen(entity, id, version, first_seen_at) "
        "SELECT entity, id, version, ? FROM records WHERE deleted=1 "
        "ON CONFLICT(entity, id) DO NOTHING",
        (now,),
    )
    return int(cur.rowcount)


def tombstones_due(tx: Tx, cutoff: str) -> list[tuple[str, str]]:
    """(entity, id) of the tombstones first seen before ``cutoff``, oldest version first."""
    return [
        (r[0], r[1])
        for r in tx.execute(
            "SELECT t.entity, t.id FROM tombstone_seen t JOIN records r ON r.entity=t.entity AND r.id=t.id "
            "AND r.version=t.version AND r.deleted=1 WHERE julianday(t.first_seen_at) < julianday(?) "
            "ORDER BY r.version",
            (cutoff,),
        )
    ]


def purge_tombstone(tx: Tx, entity: str, record_id: str) -> None:
    tx.execute("DELETE FROM records WHERE entity=? AND id=? AND deleted=1", (entity, record_id))
    tx.execute("DELETE FROM tombstone_seen WHERE entity=? AND id=?", (entity, record_id))


def lease(tx: Tx, job_id: str) -> str | None:
    """Take the lease of a scheduled job for this transaction and return when it last started
    (ISO 8601, or None). On PostgreSQL the lease is an advisory lock held to the commit: the
    same job firing in another server process waits here, then sees this run's start and
    stands down (``ScheduledWork.run``). SQLite's one writer already runs one job at a time."""
    if is_postgres(tx):
        tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("fieldsync.scheduler." + job_id,))
    row = tx.execute("SELECT last_started_at FROM scheduler_runs WHERE job_id=?", (job_id,)).fetchone()
    return None if row is None else row[0]
