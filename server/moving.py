"""Copies of a whole deployment: ``field-server backup`` and ``field-server migrate``.

A deployment is its database and its blob bytes. The database is copied by the storage package
(``Database.backup``: SQLite's online backup; ``storage.transfer``: table by table into another
database); this module adds the blobs. Blob files never change once stored, so copying them
*after* the database is consistent: every blob the copied database names was complete before the
copy began (a blob row is written only once its bytes are verified), and housekeeping deletes
only files no record names, untouched for weeks. Files added meanwhile are harmless extras.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from . import policy
from .blobstore import BlobStore, DirectoryStore, open_store
from .storage import Database, Store
from .storage import blobs as blob_rows
from .storage import transfer

DB_FILE = "fieldsync.db"
CONFIG_FILE = "config.toml"


class MoveError(Exception):
    """A copy that cannot go ahead; the message is for the operator."""


def copy_blobs(source: BlobStore, target: BlobStore, shas: Iterable[str]) -> dict[str, int]:
    """Copy the named blobs the target lacks, each verified by its hash on the way in
    (``add_file``). Returns how many were copied, already there, and missing from the source."""
    report = {"copied": 0, "present": 0, "missing": 0}
    with tempfile.TemporaryDirectory(prefix="fieldsync-blob-") as tmp:
        staging = Path(tmp) / "blob"
        for sha in shas:
            if target.has(sha):
                report["present"] += 1
                continue
            if not source.has(sha):
                report["missing"] += 1
                continue
            with staging.open("wb") as out:
                for chunk in source.read(sha):
                    out.write(chunk)
            if target.add_file(staging)[0] != sha:
                raise MoveError(f"blob {sha} does not hash to its name in the source store")
            report["copied"] += 1
    return report


def backup(db: Store, data_dir: Path, dest: Path) -> dict[str, Any]:
    """A restorable copy of a SQLite deployment in ``dest``, a new data directory: the store
    (one consistent snapshot, taken while the server writes), ``config.toml`` and the blobs the
    snapshot names. ``field-server serve --data DEST`` serves it as it was."""
    if not isinstance(db, Database):
        raise MoveError(
            "field-server backup copies a SQLite store; back up PostgreSQL with its own tools "
            "(pg_dump, or base backups with WAL archiving: docs/operations.md)"
        )
    if dest.exists() and any(dest.iterdir()):
        raise MoveError(f"{dest} is not empty: back up into a new directory")
    dest.mkdir(parents=True, exist_ok=True)
    size = db.backup(dest / DB_FILE)
    if (data_dir / CONFIG_FILE).exists():
        shutil.copy2(data_dir / CONFIG_FILE, dest / CONFIG_FILE)
    copy = Database(dest / DB_FILE)
    try:
        names = copy.read(blob_rows.complete)
    finally:
        copy.close()
    source_blobs = open_store(data_dir, policy.load(data_dir).blobs)  # the server's own store, S3 too
    blobs = copy_blobs(source_blobs, DirectoryStore(dest / "blobs"), names)
    return {"backup": str(dest), "database_bytes": size, "blobs": blobs}


def migrate(
    source: Store, target: Store, source_blobs: BlobStore, target_blobs: BlobStore | None, replace: bool = False
) -> dict[str, Any]:
    """Copy the whole database ``source`` into ``target`` (one snapshot, one transaction), then
    the blobs it names into ``target_blobs`` when the target uses another blob store."""
    try:
        copied = transfer.copy_store(source, target, replace=replace)
    except transfer.CopyRefused as exc:
        raise MoveError(str(exc)) from None
    report: dict[str, Any] = transfer.describe(copied)
    if target_blobs is not None:
        report["blobs"] = copy_blobs(source_blobs, target_blobs, target.read(blob_rows.complete))
    else:
        report["blobs"] = "left in place: the target uses the same blob store"
    return report
