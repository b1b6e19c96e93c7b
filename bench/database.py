"""Which database the benchmark's servers run on: SQLite (the default, a file in each data
directory) or, with ``BENCH_DB=postgresql://USER@HOST/DB``, a PostgreSQL database of its own for
every server store the figures make, on the PostgreSQL server ``BENCH_DB`` names (the database
in the URL is only where the others are created from). The databases are dropped at the end of
the run (``BENCH_KEEP=1`` keeps them).

A data directory is pointed at its database by ``database =`` in its ``config.toml``, so every
way in (``field-server --data``, a server process) uses it. Copies of a store (a template served
by each run) are made by the storage package's ``transfer.copy_store``: one snapshot of the
source, even while its server runs, which is what SQLite's online backup gives the SQLite runs.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("BENCH_DB") or ""
# What the run's databases are named from: a test gives its run a prefix of its own, so that it
# counts what its run left behind and not what a run beside it holds.
PREFIX = os.environ.get("BENCH_DB_PREFIX") or "fieldsync_bench_"
_created: list[str] = []


def backend() -> str:
    return "postgresql" if PG_URL else "sqlite"


def _url_of(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def _admin(sql: str, url: str | None = None) -> None:
    """One statement outside any transaction, on the server's maintenance database or ``url``."""
    import psycopg

    with psycopg.connect(url or PG_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _configured(data_dir: Path) -> str | None:
    path = data_dir / "config.toml"
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("database = "):
            return line.split('"')[1]
    return None


def _point(data_dir: Path, url: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "config.toml"
    rest = [
        line
        for line in (path.read_text(encoding="utf-8").splitlines() if path.exists() else [])
        if not line.startswith("database = ")
    ]
    path.write_text("\n".join([f'database = "{url}"', *rest]) + "\n", encoding="utf-8")


def prepare(data_dir: Path) -> None:
    """Give a new data directory its own PostgreSQL database (nothing to do on SQLite)."""
    if not PG_URL:
        return
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    _created.append(name)
    _point(data_dir, _url_of(name))


def open_store(data_dir: Path) -> Any:
    """The store of a data directory, through the storage package (the caller closes it)."""
    from server.storage import database_url, open_database

    db = open_database(database_url(data_dir, _configured(data_dir)))
    db.migrate()
    return db


def rows(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a server's store in one snapshot (SQL in SQLite's dialect, as the storage writes it)."""
    db = open_store(data_dir)
    try:
        return db.read(lambda tx: [tuple(r) for r in tx.execute(sql, params).fetchall()])  # type: ignore[no-any-return]
    finally:
        db.close()


def copy_data(src: Path, dst: Path, live: bool = False) -> Path:
    """A copy of a server data directory: its files, and its store. SQLite: the file as it is
    (checkpointed), or by SQLite's online backup when its server runs (``live``). PostgreSQL: a
    new database, cloned with ``CREATE DATABASE ... TEMPLATE`` (nobody may be connected to the
    source), or filled by ``transfer.copy_store`` in one snapshot when its server runs."""
    from server.storage import Database, transfer

    if dst.exists():
        shutil.rmtree(dst)
    source_url = _configured(src)
    if source_url is None:
        if not live:
            shutil.copytree(src, dst)
            return dst
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.db", "*.db-wal", "*.db-shm"))
        for db_file in src.glob("*.db"):
            store = Database(db_file)
            try:
                store.backup(dst / db_file.name)
            finally:
                store.close()
        return dst
    shutil.copytree(src, dst)
    if not live:
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        _admin(f"CREATE DATABASE {name} TEMPLATE {source_url.rsplit('/', 1)[1]}")
        _created.append(name)
        _point(dst, _url_of(name))
        return dst
    prepare(dst)
    source, target = open_store(src), open_store(dst)
    try:
        transfer.copy_store(source, target)
    finally:
        source.close()
        target.close()
    return dst


def settle(data_dir: Path) -> None:
    """Leave a freshly loaded store as a server in service has it: on PostgreSQL, vacuumed and
    analysed, which autovacuum does within its first minute or so (``autovacuum_naptime``) after
    a bulk load. Without statistics the planner guesses: the incremental pull's walk of the
    version index took 7 ms instead of 1 ms on the 101,390-record store, a state that lasts the
    first minute of a real server and the whole of a benchmark run. Only for stores loaded whole
    (the pull data set): a store that grows under the figure (push) keeps the statistics of
    its size as it grows, which analysing it small would freeze. Nothing on SQLite, whose
    statements fix their own plans."""
    url = _configured(data_dir)
    if url is not None:
        _admin("VACUUM (ANALYZE)", url)


def checkpoint_wal(data_dir: Path) -> None:
    """Before a timed phase on PostgreSQL: a CHECKPOINT, so that the phase starts as every other
    does, with none under way. A figure and its set-up write half a gigabyte of WAL (2,000
    laptops), which sets off a checkpoint that runs for a minute and a half, through the next
    figure: that one then also writes whole into the WAL every page it first changes. The
    concurrency figure on two server processes, measured right after the one on one, always ran
    under it. Nothing on SQLite."""
    url = _configured(data_dir)
    if url is not None:
        _admin("CHECKPOINT", url)


def drop_all() -> None:
    """Drop every database this run created (unless ``BENCH_KEEP``)."""
    while _created:
        _admin(f"DROP DATABASE IF EXISTS {_created.pop()} WITH (FORCE)")
