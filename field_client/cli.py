"""The ``field`` command: the engineer's laptop from a terminal, online or not.

    field login URL --token TOKEN       enroll this laptop (once)
    field sync [--watch]                push recorded work, pull jobs, fetch drawings
    field ready                         safe to leave coverage?
    field jobs | job JOB | drawings JOB | open DRAWING | warranty JOB [EQUIPMENT] | conflicts | status
    field parts [TEXT] | van            the catalog (and what the van holds), the van's stock
    field checkin | backup | diagnose | quote | approve | swap | loaner | test | sign | resolve | escalate JOB ...
    field edit site|equipment ID FIELD=VALUE ...
    field ui [--no-browser] [--port N] [--lang zh_Hans|en]   the same day in a browser window

Every recording command writes one local transaction and needs no network. Exit status: 0 done,
1 refused or done with problems (``sync``: also when something was flagged for a person;
``ready``: not ready), 2 bad usage, 3 server unreachable (the work stays safely on the laptop),
4 this client must be upgraded. Every command takes ``--json``
and ``--home DIR`` (default ``$FIELD_HOME``, else the user's data directory).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable


from sync_protocol import ProtocolError, UpgradeRequired, i18n

from . import lang
from .lang import _
from .client import FieldClient
from .errors import FieldClientError, ServerUnreachable
from .workbench import Workbench
from .commands import (
    cmd_approve,
    cmd_backup,
    cmd_checkin,
    cmd_conflicts,
    cmd_diagnose,
    cmd_drawings,
    cmd_edit,
    cmd_escalate,
    cmd_job,
    cmd_jobs,
    cmd_loaner,
    cmd_login,
    cmd_note,
    cmd_open,
    cmd_parts,
    cmd_quote,
    cmd_ready,
    cmd_resolve,
    cmd_sign,
    cmd_status,
    cmd_swap,
    cmd_sync,
    cmd_test,
    cmd_ui,
    cmd_van,
    cmd_warranty,
)
from .terminal import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_UPGRADE, fail

HOME_HELP = "the laptop's store directory (default: $FIELD_HOME, else the user's data directory)"
JSON_HELP = "machine-readable output (JSON)"


def main(argv: list[str] | None = None) -> int:
    lang.use(os.environ)  # the terminal's language (LC_ALL, LC_MESSAGES, LANG)
    args = _parser().parse_args(argv)
    try:
        with FieldClient(args.home, retries=0 if getattr(args, "watch", False) else 4) as client:
            return int(args.run(Workbench(client), args))
    except ServerUnreachable as exc:
        message = _("{reason}; your work is kept on this laptop").format(reason=i18n.translate(exc.message, _))
        return fail(args, "unreachable", message, None, EXIT_UNREACHABLE)
    except UpgradeRequired as exc:
        return fail(args, exc.code, exc.message, exc.field, EXIT_UPGRADE)
    except ProtocolError as exc:
        return fail(args, exc.code, exc.message, exc.field, EXIT_FAILED)
    except FieldClientError as exc:
        return fail(args, type(exc).__name__, exc.message, exc.field, EXIT_FAILED)


# --- the parser ------------------------------------------------------------------------------


class CommandParser(argparse.ArgumentParser):
    """One command's parser; remembers how each of its own options is typed (``typed``: by
    destination), so that a refusal can name the option rather than a record's field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.typed: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.typed[action.dest] = (
            max(action.option_strings, key=len) if action.option_strings else str(action.metavar or action.dest.upper())
        )
        return action


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="field", description="fieldsync on the engineer's laptop")
    parser.add_argument("--home", type=Path, default=None, help=HOME_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    # The same options after the command, shown in its --help; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=HOME_HELP)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    def command(
        name: str, run: Callable[[Workbench, argparse.Namespace], int], help: str, job: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        if job:
            p.add_argument("job", metavar="JOB", help="the job: J-0001, or the office's number SR-2026-0001")
        p.set_defaults(run=run, typed=p.typed)
        return p

    p = command("login", cmd_login, "enroll this laptop with a one-time token")
    p.add_argument("url")
    p.add_argument("--token", required=True, help="the one-time enrollment token")
    p.add_argument("--device-name", default=None)

    p = command("sync", cmd_sync, "push recorded work, pull jobs and fetch drawings")
    p.add_argument("--page-size", type=int, default=None)
    p.add_argument("--watch", action="store_true", help="keep syncing in the background until stopped")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between syncs (--watch)")
    p.add_argument("--max-backoff", type=float, default=900.0, help="longest wait while unreachable (--watch)")

    command("status", cmd_status, "who, what waits, last sync, server reachable")
    command("ready", cmd_ready, "is everything on the laptop to go offline?")
    command("jobs", cmd_jobs, "assigned jobs, most urgent first")
    command("job", cmd_job, "the service sheet of one job", job=True)
    command("drawings", cmd_drawings, "a job's drawings and their files", job=True)
    p = command("open", cmd_open, "open a drawing with the system viewer")
    p.add_argument("drawing")
    command("conflicts", cmd_conflicts, "what the server flagged, in words")
    p = command("parts", cmd_parts, "the parts catalog, with what the van holds")
    p.add_argument("text", nargs="?", default="", help="only parts whose SKU or name holds this")
    command("van", cmd_van, "what the van holds (pending swaps taken off)")
    p = command("warranty", cmd_warranty, "in or out of warranty today", job=True)
    p.add_argument("equipment", nargs="?")

    p = command("checkin", cmd_checkin, "arrived on site", job=True)
    p.add_argument("--note", default="")
    p = command("backup", cmd_backup, "the backup made before any work (or --waive REASON)", job=True)
    p.add_argument("--scope", choices=["system", "data", "config"])
    p.add_argument("--method", default="")
    p.add_argument("--stored-at", default="")
    p.add_argument("--file", type=Path, help="the backup artifact: hashed here, streamed")
    p.add_argument("--sha256")
    p.add_argument("--size", type=int)
    p.add_argument("--verified", action="store_true")
    p.add_argument("--waive", metavar="REASON")
    p = command("diagnose", cmd_diagnose, "the cause found", job=True)
    p.add_argument("--cause", required=True, choices=["hardware", "software", "human", "environment", "unknown"])
    p.add_argument("--findings", required=True)
    p.add_argument("--severity", type=int, choices=[1, 2, 3, 4])
    p = command("quote", cmd_quote, "parts and labour for paid work", job=True)
    p.add_argument("--part", action="append", default=[], metavar="SKU[:QTY]", help="a part quoted (repeat for more)")
    p.add_argument("--labour", default="0", metavar="AMOUNT")
    p = command("approve", cmd_approve, "the customer approves the latest quote", job=True)
    p.add_argument("--by", required=True)
    p.add_argument("--decline", action="store_true")
    p = command("swap", cmd_swap, "a part out, a part in", job=True)
    p.add_argument("--equipment", required=True)
    p.add_argument("--part", required=True, metavar="SKU[:QTY]", help="the part put in, as on a quote")
    p.add_argument("--serial-out", required=True)
    p.add_argument("--serial-in", required=True)
    p.add_argument(
        "--from",
        dest="location",
        default=None,
        metavar="LOCATION",
        help="the stock location: your own van (van:YOUR-USER-ID), the default; parts from "
        "anywhere else are moved to your van by the office first",
    )
    p.add_argument("--no-backup-ack", action="store_true", help="record it without a backup (audited)")
    p.add_argument("--notes", default="")
    p = command("loaner", cmd_loaner, "a device lent while the fault is fixed", job=True)
    p.add_argument("--device", required=True)
    p.add_argument("--returned", action="store_true")
    p = command("test", cmd_test, "the post-repair test", job=True)
    p.add_argument("--result", required=True, choices=["pass", "fail"])
    p.add_argument("--notes", default="")
    p = command("note", cmd_note, "a free note on the job", job=True)
    p.add_argument("text")
    p = command("sign", cmd_sign, "the customer signs the sheet as it stands", job=True)
    p.add_argument("--signer", required=True)
    p.add_argument("--role", default="")
    p.add_argument("--image", type=Path, required=True)
    p.add_argument("--again", action="store_true", help="the job is signed already: record a second signature")
    p = command("resolve", cmd_resolve, "the job is done", job=True)
    p.add_argument("--again", action="store_true", help="the job is resolved already: record it once more")
    p = command("escalate", cmd_escalate, "not solved: back to the office", job=True)
    p.add_argument("--reason", required=True)
    p = command("ui", cmd_ui, "the laptop app: the whole on-site day in a browser window, offline")
    p.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument(
        "--lang",
        choices=["zh_Hans", "en"],
        default=os.environ.get("FIELD_LANG") or "en",
        help="language when the browser asks for neither (default $FIELD_LANG, else en)",
    )
    p = command("edit", cmd_edit, "facts observed on site: FIELD=VALUE ...")
    p.add_argument("entity", choices=["site", "equipment"])
    p.add_argument("id")
    p.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")
    return parser


if __name__ == "__main__":
    sys.exit(main())
