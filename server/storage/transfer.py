"""Copy a whole store into another: ``field-server migrate`` (SQLite to PostgreSQL, or back).

Everything a deployment is lives in its tables: records and their per-field versions, the change
log's counter and the device cursors, scope sets, high-water marks and stored answers, conflicts,
the audit chain and its head, users, devices and token hashes, enrollments, sessions, blob
metadata, the scheduler's memory, and ``meta``'s secret (cursors and tokens are checked with
it). So the copy is generic: every table the source has, row for row, column for column, in an
order that satisfies the foreign keys. Nothing is re-numbered or re-hashed, so a laptop's cursor,
its device token and its next ``seq`` mean the same on the target, and the audit chain verifies
there as it did on the source.

The source is read in one snapshot (``Store.read``): a copy of a live deployment is consistent,
as of the moment it began. The target is written in one transaction (``Store.write``): it holds
the whole copy or nothing. Both must be at the same schema version (each is migrated when it is
opened); the schema's own bookkeeping (``meta.schema_version`` on SQLite, the ``schema_version``
table on PostgreSQL) stays the target's.
"""

from __future__ import annotations

from typing import Any, Iterable

from .base import Store, Tx, is_postgres

BATCH = 2000
# The schema's own bookkeeping and SQLite's planner statistics: each store keeps its own.
OWN_TABLES = {"schema_version", "sqlite_stat1", "sqlite_stat4", "sqlite_sequence"}
OWN_META = "schema_version"


class CopyRefused(Exception):
    """The copy cannot go ahead; the message says why and what to do. Nothing was written."""


def tables(tx: Tx) -> dict[str, list[str]]:
    """Every table of the store and its columns, in their order (the stores' own bookkeeping left out)."""
    out: dict[str, list[str]] = {}
    if is_postgres(tx):
        rows = tx.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema=c.table_schema AND t.table_name=c.table_name "
            "WHERE c.table_schema=current_schema() AND t.table_type='BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
        for table, column in rows:
            out.setdefault(str(table), []).append(str(column))
    else:
        names = [r[0] for r in tx.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for name in names:
            out[str(name)] = [str(r[1]) for r in tx.execute(f'PRAGMA table_info("{name}")')]
    return {t: c for t, c in out.items() if t not in OWN_TABLES}


def _references(tx: Tx, names: Iterable[str]) -> dict[str, set[str]]:
    """For each table, the tables its foreign keys point at."""
    refs: dict[str, set[str]] = {name: set() for name in names}
    if is_postgres(tx):
        for child, parent in tx.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype='f'"
        ):
            refs.setdefault(str(child), set()).add(str(parent))
    else:
        for name in list(refs):
            refs[name] |= {str(r[2]) for r in tx.execute(f'PRAGMA foreign_key_list("{name}")')}
    return refs


def copy_order(tx: Tx, names: Iterable[str]) -> list[str]:
    """The tables in an order where every table comes after the tables it references."""
    wanted = set(names)
    refs = {t: r & wanted - {t} for t, r in _references(tx, wanted).items() if t in wanted}
    done: list[str] = []
    pending = sorted(refs)
    while pending:
        ready = [t for t in pending if refs[t] <= set(done)]
        if not ready:  # a cycle: none in this schema; copy in name order and let the store say
            ready = pending[:1]
        done += ready
        pending = [t for t in pending if t not in ready]
    return done


def count(tx: Tx, table: str) -> int:
    where = f" WHERE key <> '{OWN_META}'" if table == "meta" else ""
    return int(tx.execute(f'SELECT count(*) FROM "{table}"{where}').fetchone()[0])


def _filled(tx: Tx, names: Iterable[str]) -> dict[str, int]:
    """Tables holding rows (``meta`` does not count: a new store has its own counter and secret)."""
    return {t: n for t in names if t != "meta" and (n := count(tx, t))}


def _clear(tx: Tx, order: list[str]) -> None:
    """Empty every table of the target (``--replace``), in the transaction of the copy. The
    audit log refuses ``DELETE`` to honest code; emptying a store for a copy is the one
    exception: PostgreSQL's ``TRUNCATE`` fires no row trigger, SQLite's triggers are dropped
    and made again, all inside the transaction."""
    if is_postgres(tx):
        tx.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in order if t != "meta"))
    else:
        triggers = tx.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger'").fetchall()
        for name, _ in triggers:
            tx.execute(f'DROP TRIGGER "{name}"')
        for table in reversed(order):
            if table != "meta":
                tx.execute(f'DELETE FROM "{table}"')
        for _, sql in triggers:
            tx.execute(sql)
    tx.execute(f"DELETE FROM meta WHERE key <> '{OWN_META}'")


def copy_table(source: Tx, target: Tx, table: str, columns: list[str]) -> int:
    """Copy one table's rows in batches (``meta``: all but the schema's own version mark)."""
    names = ", ".join(f'"{c}"' for c in columns)
    if table == "meta":
        rows = source.execute(f"SELECT key, value FROM meta WHERE key <> '{OWN_META}'").fetchall()
        target.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [tuple(r) for r in rows])
        return len(rows)
    cursor = source.execute(f'SELECT {names} FROM "{table}"')
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    copied = 0
    while batch := cursor.fetchmany(BATCH):
        target.executemany(insert, [tuple(r) for r in batch])
        copied += len(batch)
    return copied


def copy_store(source: Store, target: Store, replace: bool = False) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``, in one snapshot of the source and one
    transaction of the target; returns the rows copied per table. Refuses (``CopyRefused``,
    nothing written) a target that already holds data unless ``replace``, and a target whose
    tables or columns differ from the source's."""

    def read(src: Tx) -> dict[str, int]:
        source_tables = tables(src)

        def write(dst: Tx) -> dict[str, int]:
            target_tables = tables(dst)
            _same_shape(source_tables, target_tables)
            order = copy_order(dst, target_tables)
            filled = _filled(dst, order)
            if filled and not replace:
                held = ", ".join(f"{t} ({n})" for t, n in sorted(filled.items()))
                raise CopyRefused(
                    f"the target already holds data: {held}; copy into an empty database, "
                    "or give --replace to empty it first"
                )
            if filled or replace:
                _clear(dst, order)
            copied = {t: copy_table(src, dst, t, source_tables[t]) for t in order}
            for table in order:  # the target holds what the snapshot held, table for table
                if count(dst, table) != count(src, table):
                    raise CopyRefused(f"{table}: {count(src, table)} rows read, {count(dst, table)} written")
            return copied

        return target.write(write)

    return source.read(read)


def _same_shape(source: dict[str, list[str]], target: dict[str, list[str]]) -> None:
    missing = sorted(source.keys() - target.keys())
    extra = sorted(target.keys() - source.keys())
    if missing or extra:
        raise CopyRefused(
            "the stores' schemas differ: "
            + "; ".join(
                part
                for part in (
                    f"only the source has {', '.join(missing)}" if missing else "",
                    f"only the target has {', '.join(extra)}" if extra else "",
                )
                if part
            )
            + " (run both with the same fieldsync version)"
        )
    for table, columns in source.items():
        if set(columns) != set(target[table]):
            raise CopyRefused(
                f"the stores' schemas differ in {table}: source {', '.join(columns)}; "
                f"target {', '.join(target[table])} (run both with the same fieldsync version)"
            )


def describe(copied: dict[str, int]) -> dict[str, Any]:
    """The copy report, for the command line."""
    return {"tables": dict(sorted(copied.items())), "rows": sum(copied.values())}
