"""``field sync --watch``: keep the laptop in sync in the background, with APScheduler.

Reachable: a sync every ``interval`` seconds. Unreachable: the next attempt waits twice as long
each time, up to ``max_backoff``, so a laptop in a basement does not spin its radio or its
battery; each attempt is one cheap request (the pull, or the ``hello`` when work waits) when the
server is down. As soon as an attempt gets through, the full sync runs in the same attempt, and
the regular interval resumes.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from .errors import ServerUnreachable
from .report import SyncReport

JOB_ID = "fieldsync-sync"


class Attempt(dict):  # type: ignore[type-arg]
    """One attempt, as reported to the caller: at, ok, next_in, and the report or the error."""


class Watcher:
    def __init__(
        self,
        run_sync: Callable[[], SyncReport],
        interval: float = 60.0,
        max_backoff: float = 900.0,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        if interval <= 0 or max_backoff < interval:
            raise ValueError("interval must be positive and max_backoff at least the interval")
        self.run_sync = run_sync
        self.interval = interval
        self.max_backoff = max_backoff
        self.on_attempt = on_attempt or (lambda attempt: None)
        self.failures = 0
        self.attempts = 0
        self._stopped = threading.Event()
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )

    def delay(self) -> float:
        """Seconds until the next attempt: the interval, or the backoff after failures."""
        if not self.failures:
            return self.interval
        return min(self.interval * 2 ** (self.failures - 1), self.max_backoff)

    def start(self) -> None:
        self._scheduler.start()
        self._schedule(0.0)

    def stop(self) -> None:
        self._stopped.set()
        self._scheduler.shutdown(wait=True)

    def request_stop(self) -> None:
        """Ask the watch to end: ``wait`` returns and no attempt is scheduled after the running
        one. Safe in a signal handler, which ``stop`` is not (it waits for a running sync)."""
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``request_stop()`` or ``stop()``; True if stopped."""
        return self._stopped.wait(timeout)

    def _schedule(self, seconds: float) -> None:
        if self._stopped.is_set():
            return
        when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
        self._scheduler.add_job(self._attempt, "date", run_date=when, id=JOB_ID, replace_existing=True)

    def _attempt(self) -> None:
        self.attempts += 1
        attempt = Attempt(at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"))
        try:
            report = self.run_sync()
        except ServerUnreachable as exc:
            self.failures += 1
            attempt.update(ok=False, error=exc.message)
        except Exception as exc:  # a refusal: keep watching, but say so
            self.failures += 1
            attempt.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        else:
            self.failures = 0
            attempt.update(ok=report.ok, pushed=report.pushed, pulled=report.pulled, problems=report.problems)
        attempt["next_in"] = self.delay()
        self.on_attempt(attempt)
        self._schedule(self.delay())
