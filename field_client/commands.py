"""The ``field`` command's subcommands (``field_client.cli`` parses the line): each does one
thing through the ``Workbench``, prints it (``terminal``) and returns the exit status."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import Any

import msgspec


from . import render
from .lang import _
from .workbench import Workbench, explain

from .terminal import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ProgressView, emit, fail, ok, out, recorded


def cmd_login(bench: Workbench, args: argparse.Namespace) -> int:
    reply = bench.client.login(args.url, args.token, args.device_name)
    return ok(
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
    out(args, data, _sync_text)
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
            emit(json.dumps(attempt, ensure_ascii=False))
        else:
            state = "synced" if attempt.get("ok") else f"not synced ({attempt.get('error') or attempt.get('problems')})"
            emit(f"{attempt['at']} {state}; next in {attempt['next_in']:.0f} s")

    watcher = Watcher(lambda: bench.client.sync(args.page_size), args.interval, args.max_backoff, report)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watcher.request_stop())
    watcher.start()
    try:
        watcher.wait()
    finally:
        watcher.stop()
    return EXIT_OK


def cmd_status(bench: Workbench, args: argparse.Namespace) -> int:
    return ok(
        args,
        bench.client.status(check_server=True),
        render.status_text,
    )


def cmd_ready(bench: Workbench, args: argparse.Namespace) -> int:
    check = bench.ready()
    out(
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
        emit(
            json.dumps(
                [
                    {**render.plain(job), "site_name": sites.get(job.site_id), "deadline": render.deadline_data(d)}
                    for job, d in rows
                ],
                ensure_ascii=False,
            )
        )
    else:
        emit(render.jobs_table(rows, sites))
    return EXIT_OK


def cmd_job(bench: Workbench, args: argparse.Namespace) -> int:
    sheet = bench.sheet(args.job)
    if args.json:
        emit(
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
        emit(render.sheet_text(sheet))
    return EXIT_OK


def cmd_drawings(bench: Workbench, args: argparse.Namespace) -> int:
    rows, missing = bench.drawings(args.job), _("NOT DOWNLOADED")
    return ok(
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
        return ok(args, {"path": str(path)}, lambda d: d["path"])
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    emit(str(path))
    return EXIT_OK


def cmd_conflicts(bench: Workbench, args: argparse.Namespace) -> int:
    if args.json:
        emit(json.dumps(render.plain(bench.client.conflicts()), ensure_ascii=False))
    else:
        emit("\n".join(f"- {line}" for line in bench.conflicts_in_words(_)) or _("nothing flagged"))
    return EXIT_OK


def cmd_parts(bench: Workbench, args: argparse.Namespace) -> int:
    rows = bench.parts(args.text)
    if args.json:
        return ok(args, [{**render.plain(part), "van_qty": qty} for part, qty in rows], str)
    if not rows:
        suggestion = bench.client.suggest("part", args.text)
        return ok(
            args,
            None,
            lambda d: (
                _("no part in the catalog matches {text!r}").format(text=args.text)
                + (_("; did you mean {suggestion}?").format(suggestion=suggestion) if suggestion else "")
            ),
        )
    return ok(args, rows, render.parts_table)


def cmd_van(bench: Workbench, args: argparse.Namespace) -> int:
    rows = bench.van()
    if args.json:
        return ok(args, [{**render.plain(stock), "name": part.name if part else None} for stock, part in rows], str)
    return ok(args, rows, render.van_table)


def cmd_warranty(bench: Workbench, args: argparse.Namespace) -> int:
    states = bench.warranty(args.job, args.equipment)
    covered, paid = _("covered"), _("NOT covered (paid work)")
    return ok(
        args,
        {k: v._asdict() for k, v in states.items()},
        lambda d: "\n".join(f"{k}: {covered if v['covered'] else paid} - {v['reason']}" for k, v in d.items()),
    )


def cmd_checkin(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.checkin(args.job, args.note))


def cmd_backup(bench: Workbench, args: argparse.Namespace) -> int:
    if args.waive is not None:
        return recorded(args, bench.waive_backup(args.job, args.waive))
    if not args.scope:
        return fail(args, "usage", _("--scope is required (or --waive REASON)"), "scope", EXIT_USAGE)
    return recorded(
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
    return recorded(args, bench.diagnose(args.job, args.cause, args.findings, args.severity))


def cmd_quote(bench: Workbench, args: argparse.Namespace) -> int:
    try:
        labour = render.cents(args.labour)
    except (ValueError, ArithmeticError):
        message = _("--labour {amount!r}: an amount like 300 or 300.50").format(amount=args.labour)
        return fail(args, "usage", message, "labour", EXIT_USAGE)
    event = bench.quote(args.job, args.part, labour)
    total = render.money(event.payload.total_cents, event.payload.currency)  # type: ignore[attr-defined]
    return recorded(args, event, _("total {amount}").format(amount=total))


def cmd_approve(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.approve(args.job, args.by, approved=not args.decline))


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
    return recorded(args, event, warning)


def cmd_loaner(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.loaner(args.job, args.device, args.returned))


def cmd_test(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.test(args.job, args.result, args.notes))


def cmd_note(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.note(args.job, args.text))


def cmd_sign(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.sign(args.job, args.signer, args.role, args.image, again=args.again))


def cmd_resolve(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.resolve(args.job, again=args.again))


def cmd_escalate(bench: Workbench, args: argparse.Namespace) -> int:
    return recorded(args, bench.escalate(args.job, args.reason))


def cmd_edit(bench: Workbench, args: argparse.Namespace) -> int:
    patch = bench.edit(args.entity, args.id, args.assignments)
    return ok(
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
    out(
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
