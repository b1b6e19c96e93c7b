"""What the ``field`` command prints and the status it ends with: text for a person or JSON for
a script (``--json``), a refusal in words with the option it concerns and the next step, and a
progress bar for a long sync."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

from sync_protocol import i18n

from . import refusal
from .lang import _

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UPGRADE = 0, 1, 2, 3, 4


def recorded(args: argparse.Namespace, event: Any, warning: str | None = None) -> int:
    data = {
        "event_id": event.id,
        "job_id": event.job_id,
        "kind": type(event.payload).__struct_config__.tag,
        "hlc": event.hlc,
        "warning": warning,
    }
    return ok(
        args,
        data,
        lambda d: (
            _("recorded {kind} on {job} ({event}); will sync").format(
                kind=i18n.names(_)["event"].get(d["kind"], d["kind"]), job=d["job_id"], event=d["event_id"]
            )
            + (f"\n  ! {warning}" if warning else "")
        ),
    )


def ok(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> int:
    out(args, data, text)
    return EXIT_OK


def out(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    emit(json.dumps(data, ensure_ascii=False, default=str) if args.json else text(data))


def emit(text: str) -> None:
    """Print one piece of output. A reader that has gone (``field job J-0001 | head``) has had
    all it wanted: the rest is dropped quietly, and the command still ends with its own status."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # stdout now points at /dev/null, so that Python's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def fail(args: argparse.Namespace, code: str, message: str, field: str | None, status: int) -> int:
    """A refusal: what is wrong, the option it concerns, and what to do next."""
    option = refusal.option_for(getattr(args, "typed", {}), field)
    step = refusal.next_step(field, getattr(args, "job", None), _)
    if getattr(args, "json", False):
        emit(
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
