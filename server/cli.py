"""``field-server``: create, fill, run and administer a fieldsync server store.

    field-server init --data DIR                      # prints the admin token (once)
    field-server load-fixtures --data DIR fixtures/demo/data.json
    field-server user add li-wei --role engineer --data DIR   # prints an enrollment token
    field-server serve --data DIR --host 127.0.0.1 --port 8765
    field-server device list --data DIR
    field-server device revoke DEVICE --data DIR

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

from . import __version__, auth
from .blobs import BlobStore
from .database import Database
from .fixtures import load_fixtures
from .schema import migrate

ADMIN_NAME = "admin"


class CommandError(Exception):
    """A command that cannot go on; its message is for the operator."""


def _open(data: Path, create: bool = False) -> Database:
    db_file = data / "fieldsync.db"
    if not create and not db_file.exists():
        raise CommandError(f"no fieldsync store in {data}: run `field-server init --data {data}` first")
    data.mkdir(parents=True, exist_ok=True)
    db = Database(db_file)
    db.exclusive(migrate)
    return db


def cmd_init(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args.data, create=True)
    try:
        def work(conn: Any) -> str:
            if conn.execute("SELECT 1 FROM users WHERE role='admin'").fetchone():
                raise CommandError(f"{args.data} is already initialised; its admin token was shown "
                                   "once. Use `field-server user add NAME --role admin` for another.")
            user_id = auth.add_user(conn, ADMIN_NAME, "admin", "Administrator", user_id="u-admin")
            return auth.create_device(conn, user_id, "field-server init", "cli")[1]
        token = db.write(work)
    finally:
        db.close()
    return {"data": str(args.data), "admin_token": token}


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .app import create_app

    _open(args.data).close()
    app = create_app(args.data, durable=args.durable)
    print(f"fieldsync server {__version__} on http://{args.host}:{args.port} (data: {args.data})",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


def cmd_load_fixtures(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args.data)
    try:
        report = load_fixtures(db, BlobStore(args.data / "blobs"), Path(args.path))
    finally:
        db.close()
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def cmd_user_add(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args.data)
    try:
        def work(conn: Any) -> tuple[str, str]:
            user_id = auth.add_user(conn, args.name, args.role, args.display_name or "")
            return user_id, auth.create_enrollment(conn, user_id)
        user_id, token = db.write(work)
    finally:
        db.close()
    return {"user_id": user_id, "name": args.name, "role": args.role, "enrollment_token": token}


def cmd_device_revoke(args: argparse.Namespace) -> dict[str, Any]:
    db = _open(args.data)
    try:
        db.write(lambda c: auth.revoke_device(c, args.device))
    finally:
        db.close()
    return {"device_id": args.device, "revoked": True}


def cmd_device_list(args: argparse.Namespace) -> list[dict[str, Any]]:
    db = _open(args.data)
    try:
        rows = db.read(lambda c: c.execute(
            "SELECT d.id, u.name AS user, d.name, d.platform, d.created_at, d.last_seen_at, d.revoked_at, "
            "d.high_seq FROM devices d JOIN users u ON u.id=d.user_id ORDER BY d.created_at").fetchall())
    finally:
        db.close()
    return [dict(r) for r in rows]


def _human(result: Any) -> str:
    if isinstance(result, dict):
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    if isinstance(result, list):
        return "\n".join("  ".join(str(v) for v in row.values()) for row in result) or "(none)"
    return str(result)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, required=True, help="the server's data directory")

    parser = argparse.ArgumentParser(prog="field-server", parents=[common],
                                     description="fieldsync server administration")
    parser.add_argument("--version", action="version", version=f"field-server {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", parents=[common, data], help="create a store and print the admin token")
    p.set_defaults(run=cmd_init)
    p = sub.add_parser("serve", parents=[common, data], help="run the HTTP server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--durable", action="store_true", help="synchronous=FULL: survive power loss too")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser("load-fixtures", parents=[common, data], help="load a fixture data set")
    p.add_argument("path")
    p.set_defaults(run=cmd_load_fixtures)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", parents=[common, data],
                        help="add a user (or enroll an existing one) and print an enrollment token")
    p.add_argument("name")
    p.add_argument("--role", choices=auth.ROLES, required=True)
    p.add_argument("--display-name")
    p.set_defaults(run=cmd_user_add)

    device = sub.add_parser("device", help="devices").add_subparsers(dest="device_command", required=True)
    p = device.add_parser("revoke", parents=[common, data], help="refuse a device's token from now on")
    p.add_argument("device")
    p.set_defaults(run=cmd_device_revoke)
    p = device.add_parser("list", parents=[common, data], help="list enrolled devices")
    p.set_defaults(run=cmd_device_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        result = run(args)
    except (CommandError, ProtocolError) as exc:
        message = exc.message if isinstance(exc, ProtocolError) else str(exc)
        if args.json:
            print(msgspec.json.encode({"error": getattr(exc, "code", "error"), "message": message,
                                       "field": getattr(exc, "field", None)}).decode(), file=sys.stderr)
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
