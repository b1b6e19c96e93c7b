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
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import msgspec

from sync_protocol import ProtocolError, UpgradeRequired, i18n

from . import lang, refusal, render
from .lang import _
from .client import FieldClient
from .errors import FieldClientError, ServerUnreachable
from .workbench import Workbench, explain

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UPGRADE = 0, 1, 2, 3, 4
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
        return _fail(args, "unreachable", message, None, EXIT_UNREACHABLE)
    except UpgradeRequired as exc:
        return _fail(args, exc.code, exc.message, exc.field, EXIT_UPGRADE)
    except ProtocolError as exc:
        return _fail(args, exc.code, exc.message, exc.field, EXIT_FAILED)
    except FieldClientError as exc:
        return _fail(args, type(exc).__name__, exc.message, exc.field, EXIT_FAILED)


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


# --- commands ----------------------------------------------------------------------------------


def cmd_login(bench: Workbench, args: argparse.Namespace) -> int:
    reply = bench.client.login(args.url, args.token, args.device_name)
    return _ok(
        args,
        {"user_id": reply.user_id, "user_name": reply.user_name, "role": reply.role, "device_id": reply.device_id},
        lambda d: _("enrolled as {name} ({role}), device {device}").format(
            name=d["user_name"], role=d["role"], device=d["device_id"]
        ),
    )


def cmd_sync(bench: Workbench, args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(bench, args)
    with ProgressView(enabled=not args.json and sys.stdout.isatty()) as view:
        report = bench.client.sync(args.page_size, progress=view.update)
    jobs, flagged = bench.news(report)
    sites = bench.site_names()
    data = {
        **msgspec.to_builtins(report),
        "ok": report.ok,
        "needs_person": report.needs_person,
        "new_jobs": [
            {
                "id": j.id,
                "number": j.number,
                "severity": j.severity,
                "status": j.status,
                "site_name": sites.get(j.site_id, j.site_id),
                "fault": j.fault,
            }
            for j in jobs
        ],
        "flagged": [{"id": c.id, "kind": c.kind, "job_id": c.job_id, "words": explain(c)} for c in flagged],
        "open_conflicts": len(bench.client.conflicts()),
    }
    _out(args, data, _sync_text)
    # 1 when a person is needed: something refused or failed, or flagged for the office.
    return EXIT_FAILED if report.needs_person else EXIT_OK


def _sync_text(d: dict[str, Any]) -> str:
    lines = [
        _(
            "pushed {pushed} (applied {applied}, merged {merged}, flagged {conflicts}, refused {rejected}); "
            "pulled {pulled}, removed {removed}; files up {blobs_uploaded}, down {blobs_downloaded}"
        ).format(**d)
    ]
    if d["new_jobs"]:
        lines.append(_("new jobs ({count}):").format(count=len(d["new_jobs"])))
        lines += [
            "  "
            + _("{number} ({id}) severity {severity}, {site}: {fault}").format(
                number=j["number"], id=j["id"], severity=j["severity"], site=j["site_name"], fault=j["fault"][:70]
            )
            for j in d["new_jobs"]
        ]
    if d["flagged"]:
        lines.append(_("flagged for a person ({count}):").format(count=len(d["flagged"])))
        lines += [f"  - {c['words']}" for c in d["flagged"]]
    if d["open_conflicts"]:
        lines.append(
            _("open conflicts: {count}; `field conflicts` lists them in words").format(count=d["open_conflicts"])
        )
    lines += [f"  ! {p}" for p in d["problems"]]
    return "\n".join(lines)


def _watch(bench: Workbench, args: argparse.Namespace) -> int:
    from .watch import Watcher  # APScheduler loads only for --watch

    def report(attempt: dict[str, Any]) -> None:
        if args.json:
            _emit(json.dumps(attempt, ensure_ascii=False))
        else:
            state = "synced" if attempt.get("ok") else f"not synced ({attempt.get('error') or attempt.get('problems')})"
            _emit(f"{attempt['at']} {state}; next in {attempt['next_in']:.0f} s")

    watcher = Watcher(lambda: bench.client.sync(args.page_size), args.interval, args.max_backoff, report)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watcher._stopped.set())
    watcher.start()
    try:
        watcher.wait()
    finally:
        watcher.stop()
    return EXIT_OK


def cmd_status(bench: Workbench, args: argparse.Namespace) -> int:
    return _ok(
        args,
        bench.client.status(check_server=True),
        render.status_text,
    )


def cmd_ready(bench: Workbench, args: argparse.Namespace) -> int:
    check = bench.ready()
    _out(
        args,
        check._asdict(),
        lambda d: (
            (
                _("READY to go offline: {jobs} jobs, {drawings} drawings; last sync {last}")
                if d["ready"]
                else _("NOT READY to go offline: {jobs} jobs, {drawings} drawings; last sync {last}")
            ).format(jobs=d["jobs"], drawings=d["drawings"], last=d["last_sync_at"] or _("never"))
            + "".join(f"\n  ! {p}" for p in d["problems"])
        ),
    )
    return EXIT_OK if check.ready else EXIT_FAILED


def cmd_jobs(bench: Workbench, args: argparse.Namespace) -> int:
    rows, sites = bench.jobs_by_urgency(), bench.site_names()
    if args.json:
        _emit(
            json.dumps(
                [
                    {**render.plain(job), "site_name": sites.get(job.site_id), "deadline": render.deadline_data(d)}
                    for job, d in rows
                ],
                ensure_ascii=False,
            )
        )
    else:
        _emit(render.jobs_table(rows, sites))
    return EXIT_OK


def cmd_job(bench: Workbench, args: argparse.Namespace) -> int:
    sheet = bench.sheet(args.job)
    if args.json:
        _emit(
            json.dumps(
                render.plain(
                    {
                        **sheet,
                        "equipment": [{"equipment": eq, "warranty": w._asdict()} for eq, w in sheet["equipment"]],
                        "drawings": [{"drawing": d, "path": p} for d, p in sheet["drawings"]],
                        "events": [{"event": v.event, "pending": v.pending} for v in sheet["events"]],
                        "deadline": render.deadline_data(sheet["deadline"]),
                    }
                ),
                ensure_ascii=False,
            )
        )
    else:
        _emit(render.sheet_text(sheet))
    return EXIT_OK


def cmd_drawings(bench: Workbench, args: argparse.Namespace) -> int:
    rows, missing = bench.drawings(args.job), _("NOT DOWNLOADED")
    return _ok(
        args,
        [{"drawing": render.plain(d), "path": str(p) if p else None} for d, p in rows],
        lambda rs: (
            "\n".join(f"{r['drawing']['id']:6} {r['drawing']['title']}: {r['path'] or missing}" for r in rs)
            or _("no drawings for this site")
        ),
    )


def cmd_open(bench: Workbench, args: argparse.Namespace) -> int:
    path = bench.drawing_file(args.drawing)
    opener = os.environ.get("FIELD_OPENER") or shutil.which("xdg-open") or shutil.which("open")
    if args.json or not opener:
        return _ok(args, {"path": str(path)}, lambda d: d["path"])
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _emit(str(path))
    return EXIT_OK


def cmd_conflicts(bench: Workbench, args: argparse.Namespace) -> int:
    if args.json:
        _emit(json.dumps(render.plain(bench.client.conflicts()), ensure_ascii=False))
    else:
        _emit("\n".join(f"- {line}" for line in bench.conflicts_in_words(_)) or _("nothing flagged"))
    return EXIT_OK


def cmd_parts(bench: Workbench, args: argparse.Namespace) -> int:
    rows = bench.parts(args.text)
    if args.json:
        return _ok(args, [{**render.plain(part), "van_qty": qty} for part, qty in rows], str)
    if not rows:
        suggestion = bench.client.suggest("part", args.text)
        return _ok(
            args,
            None,
            lambda d: (
                _("no part in the catalog matches {text!r}").format(text=args.text)
                + (_("; did you mean {suggestion}?").format(suggestion=suggestion) if suggestion else "")
            ),
        )
    return _ok(args, rows, render.parts_table)


def cmd_van(bench: Workbench, args: argparse.Namespace) -> int:
    rows = bench.van()
    if args.json:
        return _ok(args, [{**render.plain(stock), "name": part.name if part else None} for stock, part in rows], str)
    return _ok(args, rows, render.van_table)


def cmd_warranty(bench: Workbench, args: argparse.Namespace) -> int:
    states = bench.warranty(args.job, args.equipment)
    covered, paid = _("covered"), _("NOT covered (paid work)")
    return _ok(
        args,
        {k: v._asdict() for k, v in states.items()},
        lambda d: "\n".join(f"{k}: {covered if v['covered'] else paid} - {v['reason']}" for k, v in d.items()),
    )


def cmd_checkin(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.checkin(args.job, args.note))


def cmd_backup(bench: Workbench, args: argparse.Namespace) -> int:
    if args.waive is not None:
        return _recorded(args, bench.waive_backup(args.job, args.waive))
    if not args.scope:
        return _fail(args, "usage", _("--scope is required (or --waive REASON)"), "scope", EXIT_USAGE)
    return _recorded(
        args,
        bench.backup(
            args.job,
            scope=args.scope,
            method=args.method,
            stored_at=args.stored_at,
            file=args.file,
            sha256=args.sha256,
            size=args.size,
            verified=args.verified,
        ),
    )


def cmd_diagnose(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.diagnose(args.job, args.cause, args.findings, args.severity))


def cmd_quote(bench: Workbench, args: argparse.Namespace) -> int:
    try:
        labour = render.cents(args.labour)
    except (ValueError, ArithmeticError):
        message = _("--labour {amount!r}: an amount like 300 or 300.50").format(amount=args.labour)
        return _fail(args, "usage", message, "labour", EXIT_USAGE)
    event = bench.quote(args.job, args.part, labour)
    total = render.money(event.payload.total_cents, event.payload.currency)  # type: ignore[attr-defined]
    return _recorded(args, event, _("total {amount}").format(amount=total))


def cmd_approve(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.approve(args.job, args.by, approved=not args.decline))


def cmd_swap(bench: Workbench, args: argparse.Namespace) -> int:
    event, warning = bench.swap(
        args.job,
        equipment=args.equipment,
        part=args.part,
        serial_out=args.serial_out,
        serial_in=args.serial_in,
        location=args.location,
        no_backup_ack=args.no_backup_ack,
        notes=args.notes,
    )
    return _recorded(args, event, warning)


def cmd_loaner(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.loaner(args.job, args.device, args.returned))


def cmd_test(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.test(args.job, args.result, args.notes))


def cmd_note(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.note(args.job, args.text))


def cmd_sign(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.sign(args.job, args.signer, args.role, args.image, again=args.again))


def cmd_resolve(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.resolve(args.job, again=args.again))


def cmd_escalate(bench: Workbench, args: argparse.Namespace) -> int:
    return _recorded(args, bench.escalate(args.job, args.reason))


def cmd_edit(bench: Workbench, args: argparse.Namespace) -> int:
    patch = bench.edit(args.entity, args.id, args.assignments)
    return _ok(
        args,
        {"seq": patch.seq, "entity": patch.entity, "id": patch.id, "fields": patch.fields},
        lambda d: (
            f"recorded edit of {d['entity']} {d['id']}: "
            + ", ".join(f"{k}={v}" for k, v in d["fields"].items())
            + " (will sync)"
        ),
    )


def cmd_ui(bench: Workbench, args: argparse.Namespace) -> int:
    from .ui import LaptopApp  # litestar, Jinja2 and Babel load only for the app

    app = LaptopApp(bench, port=args.port, default_locale=args.lang)
    _out(
        args,
        {"url": app.url, "port": app.port},
        lambda d: (
            f"fieldsync laptop app: {d['url']}\n(a one-time link: it opens the app in one browser; "
            f"Ctrl-C stops the app)"
        ),
    )
    sys.stdout.flush()
    if not args.no_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(app.url,)).start()
    # uvicorn shuts down gracefully on Ctrl-C or SIGTERM, then raises the signal again: end
    # quietly, with status 0, once a sync the app started has finished writing.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    try:
        app.serve()
    except KeyboardInterrupt:
        pass
    finally:
        app.runner.wait(30)
    return EXIT_OK


# --- output ---------------------------------------------------------------------------------------


def _recorded(args: argparse.Namespace, event: Any, warning: str | None = None) -> int:
    data = {
        "event_id": event.id,
        "job_id": event.job_id,
        "kind": type(event.payload).__struct_config__.tag,
        "hlc": event.hlc,
        "warning": warning,
    }
    return _ok(
        args,
        data,
        lambda d: (
            _("recorded {kind} on {job} ({event}); will sync").format(
                kind=i18n.names(_)["event"].get(d["kind"], d["kind"]), job=d["job_id"], event=d["event_id"]
            )
            + (f"\n  ! {warning}" if warning else "")
        ),
    )


def _ok(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> int:
    _out(args, data, text)
    return EXIT_OK


def _out(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    _emit(json.dumps(data, ensure_ascii=False, default=str) if args.json else text(data))


def _emit(text: str) -> None:
    """Print one piece of output. A reader that has gone (``field job J-0001 | head``) has had
    all it wanted: the rest is dropped quietly, and the command still ends with its own status."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # stdout now points at /dev/null, so that Python's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _fail(args: argparse.Namespace, code: str, message: str, field: str | None, status: int) -> int:
    """A refusal: what is wrong, the option it concerns, and what to do next."""
    option = refusal.option_for(getattr(args, "typed", {}), field)
    step = refusal.next_step(field, getattr(args, "job", None), _)
    if getattr(args, "json", False):
        _emit(
            json.dumps(
                {"error": code, "message": message, "field": field, "option": option, "next": step}, ensure_ascii=False
            )
        )
    else:
        print(refusal.in_words(i18n.translate(message, _), field, option, step, _), file=sys.stderr)
    return status


class ProgressView:
    """A rich progress bar for a sync, shown only once the sync has taken over a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def update(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled or time.monotonic() - self.started < 1.0:
            return
        if self._progress is None:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)

    def __enter__(self) -> "ProgressView":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


if __name__ == "__main__":
    sys.exit(main())
