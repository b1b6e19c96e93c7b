"""The ``field`` command: the engineer's laptop from a terminal.

    field login URL --token TOKEN      enroll this laptop (once)
    field sync [--page-size N]         push recorded work, pull jobs, fetch drawings
    field status                       who, what is waiting, last sync, server reachable
    field jobs                         the jobs on this laptop

Exit status: 0 done, 1 refused or done with problems, 2 bad usage, 3 server unreachable
(the work stays safely on the laptop), 4 this client must be upgraded.
Every command takes ``--json`` for scripts and ``--home DIR`` (default ``$FIELD_HOME``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

import msgspec

from sync_protocol import ProtocolError, UpgradeRequired

from .client import FieldClient
from .errors import FieldClientError, ServerUnreachable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UPGRADE = 0, 1, 2, 3, 4


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with FieldClient(args.home) as client:
            return int(args.run(client, args))
    except ServerUnreachable as exc:
        return _fail(args, "unreachable", exc.message + "; your work is kept on this laptop",
                     None, EXIT_UNREACHABLE)
    except UpgradeRequired as exc:
        return _fail(args, exc.code, exc.message, exc.field, EXIT_UPGRADE)
    except ProtocolError as exc:
        return _fail(args, exc.code, exc.message, exc.field, EXIT_FAILED)
    except FieldClientError as exc:
        return _fail(args, type(exc).__name__, exc.message, exc.field, EXIT_FAILED)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="field", description="fieldsync on the engineer's laptop")
    parser.add_argument("--home", type=Path, default=None, help="laptop store directory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", parents=[common], help="enroll this laptop")
    login.add_argument("url")
    login.add_argument("--token", required=True, help="the one-time enrollment token")
    login.add_argument("--device-name", default=None)
    login.set_defaults(run=cmd_login)

    sync = sub.add_parser("sync", parents=[common], help="reconcile with the server")
    sync.add_argument("--page-size", type=int, default=None)
    sync.set_defaults(run=cmd_sync)

    sub.add_parser("status", parents=[common], help="what is waiting").set_defaults(run=cmd_status)
    sub.add_parser("jobs", parents=[common], help="jobs on this laptop").set_defaults(run=cmd_jobs)
    return parser


def cmd_login(client: FieldClient, args: argparse.Namespace) -> int:
    reply = client.login(args.url, args.token, args.device_name)
    _out(args, {"user_id": reply.user_id, "user_name": reply.user_name, "role": reply.role,
                "device_id": reply.device_id},
         lambda d: f"enrolled as {d['user_name']} ({d['role']}), device {d['device_id']}")
    return EXIT_OK


def cmd_sync(client: FieldClient, args: argparse.Namespace) -> int:
    report = client.sync(args.page_size)
    data = {**msgspec.to_builtins(report), "ok": report.ok}
    _out(args, data, _sync_text)
    return EXIT_OK if report.ok else EXIT_FAILED


def _sync_text(d: dict[str, Any]) -> str:
    lines = [f"pushed {d.get('pushed', 0)} (applied {d.get('applied', 0)}, merged {d.get('merged', 0)}, "
             f"conflicts {d.get('conflicts', 0)}, refused {d.get('rejected', 0)}); "
             f"pulled {d.get('pulled', 0)}, removed {d.get('removed', 0)}; "
             f"files up {d.get('blobs_uploaded', 0)}, down {d.get('blobs_downloaded', 0)}"]
    lines += [f"  ! {p}" for p in d.get("problems", [])]
    return "\n".join(lines)


def cmd_status(client: FieldClient, args: argparse.Namespace) -> int:
    _out(args, client.status(check_server=True), lambda d: "\n".join(f"{k:15} {v if v is not None else '-'}"
                                                     for k, v in d.items()))
    return EXIT_OK


def cmd_jobs(client: FieldClient, args: argparse.Namespace) -> int:
    jobs = [msgspec.to_builtins(j) for j in client.jobs()]
    _out(args, jobs, lambda js: "\n".join(
        f"{j['id']:8} {j['number']:14} sev {j['severity']} {j.get('status', 'new'):9} {j['site_id']:6} "
        f"{j.get('fault', '')[:50]}" for j in js) or "no jobs on this laptop")
    return EXIT_OK


def _out(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str) if args.json else text(data))


def _fail(args: argparse.Namespace, code: str, message: str, field: str | None, status: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": code, "message": message, "field": field}, ensure_ascii=False))
    else:
        print(f"field: {message}" + (f" (field: {field})" if field else ""), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
