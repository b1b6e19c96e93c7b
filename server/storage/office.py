"""The office's read queries: the conflict queue, reference-data lists and pickers, names for
the board, and the jobs the backup audit looks at. What the office writes goes through
``records.put`` like every other change."""

from __future__ import annotations

from typing import Any

from .base import Tx, is_postgres
from .records import decode_record


def _conflicts_where(status: str | None, job_id: str | None) -> tuple[str, list[str]]:
    sql = " FROM records WHERE entity='conflict' AND deleted=0"
    params: list[str] = []
    if status:
        sql += " AND status=?"
        params.append(status)
    if job_id:
        sql += " AND parent=?"
        params.append(job_id)
    return sql, params


def conflicts(
    tx: Tx, status: str | None = "open", job_id: str | None = None, limit: int = -1, offset: int = 0
) -> list[tuple[Any, int]]:
    """Conflicts (with their versions), newest first; ``status=None`` for all; ``limit`` (-1:
    no limit) and ``offset`` cut one page of a long queue."""
    where, params = _conflicts_where(status, job_id)
    everything = limit < 0 and is_postgres(tx)  # SQLite's LIMIT -1 is PostgreSQL's LIMIT ALL
    rows = tx.execute(
        "SELECT data, version"
        + where
        + " ORDER BY version DESC "
        + ("LIMIT ALL OFFSET ?" if everything else "LIMIT ? OFFSET ?"),
        [*params, offset] if everything else [*params, limit, offset],
    ).fetchall()
    return [(decode_record(r[0]), r[1]) for r in rows]


def count_conflicts(tx: Tx, status: str | None = "open", job_id: str | None = None) -> int:
    where, params = _conflicts_where(status, job_id)
    return int(tx.execute("SELECT count(*)" + where, params).fetchone()[0])


def list_records(tx: Tx, entity: str, parent: str | None = None, limit: int = 1000) -> list[tuple[Any, int]]:
    """Live records of ``entity`` (of ``parent``) with their versions, by id."""
    sql = "SELECT data, version FROM records WHERE entity=? AND deleted=0"
    params: list[Any] = [entity]
    if parent:
        sql += " AND parent=?"
        params.append(parent)
    rows = tx.execute(sql + " ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    return [(decode_record(r[0]), r[1]) for r in rows]


def labels(tx: Tx, entity: str) -> list[tuple[str, str]]:
    """(id, name or title or id) of every live record of ``entity``, by id: a picker's choices."""
    rows = tx.execute(
        "SELECT id, coalesce(json_extract(data, '$.name'), json_extract(data, '$.title'), id) "
        "FROM records WHERE entity=? AND deleted=0 ORDER BY id",
        (entity,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def names(tx: Tx, entities: tuple[str, ...] = ("customer", "site")) -> dict[str, str]:
    """Display names of customers and sites (or of ``entities``: parts), keyed ``entity:id``."""
    rows = tx.execute(
        "SELECT entity, id, json_extract(data, '$.name') FROM records "
        f"WHERE entity IN ({','.join('?' * len(entities))}) AND deleted=0",
        entities,
    )
    return {f"{entity}:{record_id}": name or "" for entity, record_id, name in rows}


def jobs_on_equipment(tx: Tx, statuses: list[str]) -> list[tuple[str, str, str]]:
    """(job id, job number, equipment id) for every live job in ``statuses`` and each piece of
    equipment it names, by job id (a new job's warning: that equipment already has one)."""
    rows = tx.execute(
        "SELECT records.id, coalesce(json_extract(data, '$.number'), ''), each.value FROM records, "
        "json_each(records.data, '$.equipment_ids') AS each WHERE entity='job' AND deleted=0 "
        f"AND json_extract(data, '$.status') IN ({','.join('?' * len(statuses))}) ORDER BY records.id",
        statuses,
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def jobs_with_event(tx: Tx, kind: str) -> list[Any]:
    """Live jobs holding at least one live event of ``kind`` (the backup audit: ``part_swap``)."""
    rows = tx.execute(
        "SELECT DISTINCT j.data FROM records j JOIN records e ON e.entity='event' AND e.parent=j.id "
        "AND e.deleted=0 AND json_extract(e.data, '$.payload.kind')=? "
        "WHERE j.entity='job' AND j.deleted=0",
        (kind,),
    ).fetchall()
    return [decode_record(r[0]) for r in rows]
