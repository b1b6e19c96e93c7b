"""Throwaway PostgreSQL databases for the tests that run on both backends.

The PostgreSQL server is the one at ``FIELDSYNC_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; ``make test`` starts Debian's when none
answers). Every test gets its own database, cloned from a template made once per session
(``CREATE DATABASE ... TEMPLATE``: a copy of a loaded store in a few tens of milliseconds), and
dropped when the test ends.

A server data directory is pointed at its database by the ``database =`` line of its
``config.toml``, so every way in (``field-server --data``, ``create_app(data_dir)``, a server
process) uses it; ``write_config`` keeps that line when a test writes its own policy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

BACKENDS = ("sqlite", "postgresql")
PG_URL = os.environ.get("FIELDSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_LINE = re.compile(r'^database = ".*"\n?', re.M)


@functools.cache
def pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _url_of(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def create_database(template: str | None = None, patience: float = 60.0) -> str:
    """A new, empty database (or a copy of ``template``, a URL); returns its URL.

    PostgreSQL copies a template only while no other session is connected to it, and refuses at
    once ("source database ... is being accessed by other users") otherwise: a test's pool or a
    read of a template in another worker of the suite (pyproject.toml runs several) holds it a
    moment. The copy is tried again until ``patience`` seconds have passed."""
    import psycopg

    name = "fieldsync_test_" + uuid.uuid4().hex[:12]
    clause = f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""
    deadline = time.monotonic() + patience
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        while True:
            try:
                conn.execute(f"CREATE DATABASE {name}{clause}")
                return _url_of(name)
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def database_of(data_dir: Path) -> str | None:
    """The ``database =`` of a data directory's ``config.toml``, if any."""
    path = data_dir / "config.toml"
    match = _LINE.search(path.read_text(encoding="utf-8")) if path.exists() else None
    return match.group(0).split('"')[1] if match else None


def use_database(data_dir: Path, url: str) -> None:
    """Point ``data_dir``'s server at ``url`` (its ``config.toml`` keeps the rest)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "config.toml"
    rest = _LINE.sub("", path.read_text(encoding="utf-8")) if path.exists() else ""
    path.write_text(f'database = "{url}"\n' + rest, encoding="utf-8")


def write_config(data_dir: Path, text: str) -> None:
    """Write ``config.toml`` as a test wants it, keeping the database the directory uses."""
    url = database_of(data_dir)
    (data_dir / "config.toml").write_text(text, encoding="utf-8")
    if url:
        use_database(data_dir, url)


def open_store(data_dir: Path) -> Any:
    """The server store of a data directory, on whichever backend its ``config.toml`` names (for
    a test that plants something behind the server's back); the caller closes it."""
    from server.storage import database_url, open_database

    return open_database(database_url(data_dir, database_of(data_dir)))


@contextlib.contextmanager
def copied_store(source: Path, target: Path) -> Iterator[Path]:
    """A copy of a server data directory, its PostgreSQL database cloned too (and dropped on the
    way out): never serve a template's own database."""
    shutil.copytree(source, target)
    url = database_of(source)
    clone = create_database(template=url) if url else None
    if clone:
        use_database(target, clone)
    try:
        yield target
    finally:
        if clone:
            drop_database(clone)


def query(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a server's store, on either backend (SQL in SQLite's dialect, as the storage
    package writes it), read in one snapshot."""
    db = open_store(data_dir)
    try:
        return db.read(lambda tx: [tuple(r) for r in tx.execute(sql, params).fetchall()])  # type: ignore[no-any-return]
    finally:
        db.close()


# The audit log's append-only guards (server/storage/schema.py, schema_pg.py), as an intruder who
# owns the database drops them before changing the log.
_AUDIT_GUARDS = {
    "sqlite": ("DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete"),
    "postgresql": ("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",),
}


def tamper(data_dir: Path, sql: str, *params: Any, unguard: bool = False) -> None:
    """Change a server's store behind its back, on either backend (SQL in SQLite's dialect): what
    an intruder with database access does, for tests of what the audit chain then finds.
    ``unguard``: drop the audit log's append-only triggers first (an intruder who owns the
    database can), to change or delete the log's own rows."""
    db = open_store(data_dir)

    def change(tx: Any) -> None:
        for statement in _AUDIT_GUARDS[db.dialect] if unguard else ():
            tx.execute(statement)
        tx.execute(sql, params)

    try:
        db.write(change)
    finally:
        db.close()


if __name__ == "__main__":  # ``python -m tests.support.databases``: exit 0 when PostgreSQL answers
    import sys

    sys.exit(0 if pg_available() else 1)
