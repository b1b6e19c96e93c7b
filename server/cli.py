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
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import msgspec

from sync_protocol import ProtocolError

from . import auth
from .scheduler import JOB_IDS
from .version import __version__
from .commands import (
    CommandError,
    cmd_init,
    cmd_serve,
    cmd_load_fixtures,
    cmd_user_add,
    cmd_user_disable,
    cmd_enrollment_list,
    cmd_enrollment_revoke,
    cmd_device_revoke,
    cmd_device_list,
    cmd_audit_verify,
    BrokenChain,
    cmd_job_run,
    cmd_backup,
    cmd_migrate,
)


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
