"""``field-server``: create, fill, run and administer a fieldsync server store.

    field-server init --data DIR                      # prints the admin token (once)
    field-server load-fixtures --data DIR fixtures/demo/data.json   # dates move to today (or --now ISO)
    field-server user add li-wei --role engineer --data DIR   # prints an enrollment token
    field-server serve --data DIR --host 127.0.0.1 --port 8765
    field-server serve --data DIR --blobs s3://BUCKET?endpoint=URL   # blob bytes elsewhere (docs/operations.md)
    field-server user disable li-wei --data DIR       # every device and session of hers refused at once
    field-server enrollment list [--user NAME] --data DIR
    field-server enrollment revoke TOKEN|ID --data DIR  # or --user NAME: all their unused tokens
    field-server device list --data DIR
    field-server device revoke DEVICE --data DIR
    field-server audit verify --data DIR              # exit 0: chain intact, 1: names the first broken link
    field-server job run sla_watch --data DIR         # run one scheduled job now (what `serve` runs on intervals)
    field-server backup DEST --data DIR               # a consistent copy of a SQLite deployment, while it runs
    field-server migrate --from sqlite:///DIR/fieldsync.db --to postgresql://HOST/DB   # move the whole state

Every command takes ``--json`` for machine-readable output. Errors go to stderr with exit 1
(2 for usage errors). Administrative commands open the store directly, so they work while the
server runs (SQLite WAL: one writer at a time, each command one short transaction).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import msgspec

from sync_protocol import ProtocolError

from . import auth, policy
from .blobstore import BlobStore, BlobStoreUnavailable, open_store
from .fixtures import load_fixtures
from .moving import MoveError
from .scheduler import JOB_IDS, ScheduledWork, summary
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


def _human(result: Any) -> str:
    if isinstance(result, dict):
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    if isinstance(result, list):
        return "\n".join("  ".join(str(v) for v in row.values()) for row in result) or "(none)"
    return str(result)


def _human_report(report: dict[str, Any]) -> str:
    lines = [
        f"audit log: {report['rows']} rows, BROKEN",
        f"first broken link: row {report['first_broken']['row']}: {report['first_broken']['problem']}",
    ]
    others = report["problems"][1:]
    if others:
        lines.append(f"{len(others)} more problem(s):")
        lines += [f"  row {p['row']}: {p['problem']}" for p in others[:20]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    # ``--json`` goes before the command or after it. After it, its default is SUPPRESS: a
    # subcommand's own default would otherwise overwrite a ``--json`` given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, required=True, help="the server's data directory")
    data.add_argument(
        "--database",
        metavar="URL",
        help="the store: sqlite:///PATH or postgresql://USER@HOST/DB (default: config.toml's "
        "database =, else sqlite:///DATA/fieldsync.db)",
    )
    blobs = argparse.ArgumentParser(add_help=False)
    blobs.add_argument(
        "--blobs",
        metavar="URL",
        help="where blob bytes live, instead of [blobs] of config.toml: file:///PATH or "
        "s3://BUCKET/PREFIX?endpoint=URL&region=NAME (credentials from AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY); default DATA/blobs",
    )

    parser = argparse.ArgumentParser(prog="field-server", description="fieldsync server administration")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--version", action="version", version=f"field-server {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", parents=[common, data], help="create a store and print the admin token")
    p.set_defaults(run=cmd_init)
    p = sub.add_parser("serve", parents=[common, data, blobs], help="run the HTTP server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--durable", action="store_true", help="synchronous=FULL: survive power loss too")
    p.add_argument("--log-level", default="warning")
    p.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="ADDRESSES",
        help="proxies whose X-Forwarded-For names the client (comma-separated; default the "
        "loopback proxy): the address sign-in failures are counted against",
    )
    p.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run the scheduled jobs (SLA watch, maintenance, housekeeping)",
    )
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser("load-fixtures", parents=[common, data, blobs], help="load a fixture data set")
    p.add_argument("path")
    p.add_argument(
        "--now", help="move the data set's dates as if loaded at this ISO 8601 time (with timezone; default: now)"
    )
    p.set_defaults(run=cmd_load_fixtures)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser(
        "add", parents=[common, data], help="add a user (or enroll an existing one) and print an enrollment token"
    )
    p.add_argument("name")
    p.add_argument("--role", choices=auth.ROLES, required=True)
    p.add_argument("--display-name")
    p.set_defaults(run=cmd_user_add)

    p = user.add_parser(
        "disable",
        parents=[common, data],
        help="refuse all of a user's devices, sessions and enrollment tokens from now on",
    )
    p.add_argument("name")
    p.set_defaults(run=cmd_user_disable)

    enrollment = sub.add_parser("enrollment", help="enrollment tokens").add_subparsers(
        dest="enrollment_command", required=True
    )
    p = enrollment.add_parser("list", parents=[common, data], help="enrollment tokens and their state")
    p.add_argument("--user", help="only this user's")
    p.set_defaults(run=cmd_enrollment_list)
    p = enrollment.add_parser("revoke", parents=[common, data], help="cancel an unused enrollment token")
    p.add_argument("enrollment", nargs="?", help="the token (fs_e_...) or its id from `enrollment list`")
    p.add_argument("--user", help="instead: every unused token of this user")
    p.set_defaults(run=cmd_enrollment_revoke)

    device = sub.add_parser("device", help="devices").add_subparsers(dest="device_command", required=True)
    p = device.add_parser("revoke", parents=[common, data], help="refuse a device's token from now on")
    p.add_argument("device")
    p.set_defaults(run=cmd_device_revoke)
    p = device.add_parser("list", parents=[common, data], help="list enrolled devices")
    p.set_defaults(run=cmd_device_list)

    audit_cmd = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit_cmd.add_parser(
        "verify", parents=[common, data], help="check the whole hash chain; exit 1 naming the first broken link"
    )
    p.set_defaults(run=cmd_audit_verify)

    job = sub.add_parser("job", help="scheduled jobs").add_subparsers(dest="job_command", required=True)
    p = job.add_parser("run", parents=[common, data, blobs], help="run one scheduled job once, now")
    p.add_argument("job", choices=JOB_IDS)
    p.add_argument("--now", help="run as if at this ISO 8601 time (with timezone)")
    p.set_defaults(run=cmd_job_run)

    p = sub.add_parser(
        "backup",
        parents=[common, data],
        help="copy a SQLite deployment (store, config, blobs) into a new directory while it runs",
    )
    p.add_argument("dest", help="a new (or empty) directory: a data directory `serve --data` can serve")
    p.set_defaults(run=cmd_backup)

    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="copy a deployment's whole state into another database (SQLite to PostgreSQL)",
    )
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to copy: sqlite:///PATH")
    p.add_argument("--to", dest="target", required=True, metavar="URL", help="the store to fill: postgresql://...")
    p.add_argument("--data", type=Path, help="the source's data directory (default: beside a SQLite file)")
    p.add_argument(
        "--to-data", type=Path, help="the target's data directory, when its blobs live elsewhere: they are copied"
    )
    p.add_argument(
        "--from-blobs", metavar="URL", help="the source's blob store, when not its data directory's [blobs]: s3://..."
    )
    p.add_argument(
        "--to-blobs", metavar="URL", help="the target's blob store (file:///PATH or s3://BUCKET?endpoint=URL): copied"
    )
    p.add_argument("--replace", action="store_true", help="empty a target that already holds data first")
    p.set_defaults(run=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        result = run(args)
    except BrokenChain as exc:
        print(msgspec.json.encode(exc.report).decode() if args.json else _human_report(exc.report))
        return 1
    except (CommandError, ProtocolError) as exc:
        message = exc.message if isinstance(exc, ProtocolError) else str(exc)
        if args.json:
            print(
                msgspec.json.encode(
                    {"error": getattr(exc, "code", "error"), "message": message, "field": getattr(exc, "field", None)}
                ).decode(),
                file=sys.stderr,
            )
        else:
            print(f"field-server: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if result is not None:
        print(msgspec.json.encode(result).decode() if args.json else _human(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
