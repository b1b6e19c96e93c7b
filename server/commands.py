"""The ``field-server`` commands (``server.cli`` parses the line): each opens the store (or the
blob store) itself, does one thing in short transactions, and returns what it prints."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import sys
from pathlib import Path
from typing import Any

import msgspec


from . import auth, policy
from .blobstore import BlobStore, BlobStoreUnavailable, open_store
from .fixtures import load_fixtures
from .moving import MoveError
from .scheduler import ScheduledWork, summary
from .storage import Store, audit, database_url, devices, open_database
from .storage import sqlite_path
from .version import __version__

ADMIN_NAME = "admin"


class CommandError(Exception):
    """A command that cannot go on; its message is for the operator."""


def _open(args: argparse.Namespace, create: bool = False) -> Store:
    """The store of ``--data`` (its ``config.toml`` may name one with ``database =``) or of
    ``--database``, migrated. A SQLite file must exist unless ``create``."""
    data: Path = args.data
    url = database_url(data, getattr(args, "database", None) or _config(data).database)
    db = _open_url(url, create, missing=f"no fieldsync store in {data}: run `field-server init --data {data}` first")
    data.mkdir(parents=True, exist_ok=True)
    return db


def cmd_init(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args, create=True)
    try:

        def work(conn: Any) -> str:
            if devices.has_admin(conn):
                raise CommandError(
                    f"{args.data} is already initialised; its admin token was shown "
                    "once. Use `field-server user add NAME --role admin` for another."
                )
            user_id = auth.add_user(conn, ADMIN_NAME, "admin", "Administrator", user_id="u-admin")
            return auth.create_device(conn, user_id, "field-server init", "cli")[1]

        token = db.write(work)
    finally:
        db.close()
    return {"data": str(args.data), "admin_token": token}


def _config(data: Path) -> policy.Config:
    try:
        return policy.load(data)
    except policy.ConfigError as exc:
        raise CommandError(str(exc)) from None


def _blobs(args: argparse.Namespace) -> BlobStore:
    """The blob store of ``--blobs URL``, else of ``[blobs]`` in config.toml (a bad one stops here)."""
    return _store_at(args.data, args.blobs)


def _log_to_stderr() -> None:
    """Our log lines straight to stderr. Not through litestar's queued root handler: uvicorn
    re-raises SIGTERM after a graceful shutdown, and lines still queued then (the scheduler's
    "stopped") would be lost. APScheduler's own line per run would drown ours: warnings only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ours = logging.getLogger("fieldsync")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .app import create_app

    _open(args).close()
    _config(args.data)  # a broken config.toml stops the server here, with the key named
    blobs = _blobs(args)  # and so does a blob store it cannot reach
    _log_to_stderr()
    app = create_app(
        args.data, durable=args.durable, scheduler=not args.no_scheduler, database=args.database, blobs=args.blobs
    )
    print(
        f"fieldsync server {__version__} on http://{args.host}:{args.port} (data: {args.data}; blobs: {blobs!r})"
        + ("" if args.no_scheduler else "; scheduled jobs on"),
        file=sys.stderr,
        flush=True,
    )
    # What startup built (the app, its routes, every module: hundreds of thousands of objects)
    # lives as long as the server: out of the collector's sight, full collections during a push
    # no longer walk it again (push 11,600 to 13,000 swaps/s at 20,000).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )


def _now_option(text: str | None) -> dt.datetime | None:
    """``--now ISO``: run as if at this time (it needs a timezone); None without it."""
    if text is None:
        return None
    try:
        now = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--now {text!r} is not an ISO 8601 time") from None
    if now.tzinfo is None:
        raise CommandError("--now needs a timezone, e.g. 2026-11-28T09:00:00+00:00")
    return now


def cmd_load_fixtures(args: argparse.Namespace) -> dict[str, Any]:
    now = _now_option(args.now)
    db = _open(args)
    try:
        report = load_fixtures(db, _blobs(args), Path(args.path), now)
    finally:
        db.close()
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def cmd_user_add(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args)
    try:

        def work(conn: Any) -> tuple[str, str]:
            user_id = auth.add_user(conn, args.name, args.role, args.display_name or "")
            return user_id, auth.create_enrollment(conn, user_id)

        user_id, token = db.write(work)
    finally:
        db.close()
    return {"user_id": user_id, "name": args.name, "role": args.role, "enrollment_token": token}


def cmd_user_disable(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args)
    try:
        return db.write(lambda c: auth.disable_user(c, args.name))
    finally:
        db.close()


def cmd_enrollment_list(args: argparse.Namespace) -> list[dict[str, Any]]:
    db = _open(args)
    try:
        return db.read(lambda c: auth.list_enrollments(c, args.user))
    finally:
        db.close()


def cmd_enrollment_revoke(args: argparse.Namespace) -> dict[str, Any]:
    if bool(args.enrollment) == bool(args.user):
        raise CommandError("give an enrollment token or id, or --user NAME (not both)")
    db = _open(args)
    try:
        revoked = db.write(lambda c: auth.revoke_enrollments(c, args.enrollment, args.user))
    finally:
        db.close()
    return {"revoked": revoked}


def cmd_device_revoke(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args)
    try:
        db.write(lambda c: auth.revoke_device(c, args.device))
    finally:
        db.close()
    return {"device_id": args.device, "revoked": True}


def cmd_device_list(args: argparse.Namespace) -> list[dict[str, Any]]:
    db = _open(args)
    try:
        return db.read(devices.list_devices)
    finally:
        db.close()


def cmd_audit_verify(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args)
    try:
        report = db.read(audit.verify)
    finally:
        db.close()
    first = report.first
    result: dict[str, Any] = {
        "ok": report.ok,
        "rows": report.rows,
        "head": report.head,
        "first_broken": None if first is None else {"row": first.n, "problem": first.what},
        "problems": [{"row": p.n, "problem": p.what} for p in report.problems[:100]],
    }
    if not report.ok:
        raise BrokenChain(result)
    return result


class BrokenChain(CommandError):
    """The audit chain is broken: exit 1, with the report (not just a message) on stdout."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(
            f"audit log broken at row {report['first_broken']['row']}: {report['first_broken']['problem']}"
        )
        self.report = report


def cmd_job_run(args: argparse.Namespace) -> dict[str, Any]:
    _config(args.data)
    now = _now_option(args.now)
    blobs = _blobs(args)
    db = _open(args)
    try:
        result = ScheduledWork(db, args.data, blobs=blobs).run(args.job, now)
    finally:
        db.close()
    return {"job": args.job, "result": summary(result)}


def cmd_backup(args: argparse.Namespace) -> dict[str, Any]:
    from .moving import backup

    db = _open(args)
    try:
        return backup(db, args.data, Path(args.dest))
    except MoveError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.close()


def _open_url(url: str, create: bool, missing: str | None = None) -> Store:
    """The store at ``url``, migrated to this version's schema (a new SQLite file only if
    ``create``; else ``missing``, or a message naming the URL, when there is none)."""
    path = sqlite_path(url)
    if path is not None:
        if not create and not path.exists():
            raise CommandError(missing or f"no fieldsync store at {url}")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = open_database(url)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    db.migrate()
    return db


def _source_blobs(args: argparse.Namespace) -> BlobStore:
    """The source deployment's blob store: ``--from-blobs``, else its data directory's
    ``[blobs]`` (``--data``, or the directory of a SQLite file)."""
    data = args.data
    if data is None and (path := sqlite_path(args.source)) is not None:
        data = path.parent
    if data is None and not args.from_blobs:
        raise CommandError("give --data DIR (the source deployment's data directory) or --from-blobs URL")
    return _store_at(data or Path.cwd(), args.from_blobs)


def _target_blobs(args: argparse.Namespace, source: BlobStore) -> BlobStore | None:
    """Where the target keeps blobs (``--to-blobs``, else ``--to-data``'s ``[blobs]``), or None
    when that is the source's own store: the bytes stay where they are."""
    if not args.to_blobs and args.to_data is None:
        return None
    target = _store_at(args.to_data or Path.cwd(), args.to_blobs)
    return None if target.location == source.location else target


def _store_at(data: Path, url: str | None) -> BlobStore:
    try:
        return open_store(data, _config(data).blobs, url)
    except (policy.ConfigError, BlobStoreUnavailable) as exc:
        raise CommandError(str(exc)) from None


def cmd_migrate(args: argparse.Namespace) -> dict[str, Any]:
    from .moving import migrate as move

    source_blobs = _source_blobs(args)
    target_blobs = _target_blobs(args, source_blobs)
    source = _open_url(args.source, create=False)
    try:
        target = _open_url(args.target, create=True)
        try:
            return move(source, target, source_blobs, target_blobs, replace=args.replace)
        except MoveError as exc:
            raise CommandError(str(exc)) from None
        finally:
            target.close()
    finally:
        source.close()
