"""Scheduled work: SLA watch, preventive maintenance and housekeeping, run by APScheduler 3.11.

Two layers, so that the job logic is testable without threads or timers:

* ``ScheduledWork`` runs one job *now* (or at an injected ``now``): the job's changes, their
  audit rows and the job's bookkeeping row in ``scheduler_runs`` commit in one transaction
  through ``Database.write``, so a crash leaves a run done or not done, never half done.
* ``ServerScheduler`` fires those runs on intervals in a ``BackgroundScheduler`` (the jobs block
  on SQLite, so threads, not the event loop). The server starts it in its startup hook and shuts
  it down, waiting for a running job, before the store is closed.

APScheduler traps handled here (STACK-NOTES.md): its defaults would silently skip a run more
than one second late (``misfire_grace_time=1``), so runs are allowed however late
(``misfire_grace_time=None``) and collapsed into one (``coalesce=True``); every job is
idempotent, so a late or doubled run is harmless. Jobs live in memory only (there is no plain
SQLite job store): they are added at every start under fixed ids with ``replace_existing``,
and what they must remember lives in our own tables. Run the server in one process only
(``field-server serve``): each process would run its own scheduler.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Callable

import msgspec
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from . import housekeeping, maintenance, policy, sla
from .blobstore import BlobStore, open_store
from .housekeeping import Swept
from .maintenance import Generated
from .push import ServerClock
from .storage import Store, Tx
from .storage import scheduler as runs

log = logging.getLogger("fieldsync.scheduler")

SLA_WATCH = "sla_watch"
MAINTENANCE = "maintenance"
HOUSEKEEPING = "housekeeping"
JOB_IDS = (SLA_WATCH, MAINTENANCE, HOUSEKEEPING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ScheduledWork:
    """The scheduled jobs bound to one store; ``run(job_id, now)`` runs one in one transaction."""

    def __init__(
        self,
        db: Store,
        data_dir: str | Path,
        clock: ServerClock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
        blobs: BlobStore | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs  # None: the store ``[blobs]`` of config.toml names, opened at each run
        self.data_dir = Path(data_dir)
        self.clock = clock or ServerClock()
        self.now = now

    def config(self) -> policy.Config:
        """Read at every run, so an edited policy applies without a restart."""
        return policy.load(self.data_dir)

    def run(self, job_id: str, now: dt.datetime | None = None, period: float | None = None) -> Any:
        """Run ``job_id`` once; returns what it did. A failure is recorded and re-raised.

        With ``period`` (the scheduler's interval for the job) the run first takes the job's
        lease in the database and stands down, returning None, when any server process started
        it less than ``LEASE_SHARE`` of a period ago: several processes over one PostgreSQL
        database run each job once per period, not once each. Without it (``field-server job
        run``, tests) the job runs now, as asked."""
        jobs: dict[str, Callable[[Tx, dt.datetime, policy.Config], Any]] = {
            SLA_WATCH: lambda conn, at, _cfg: sla.watch(conn, at, self.clock.tick()),
            MAINTENANCE: maintenance.generate,
            HOUSEKEEPING: lambda conn, at, cfg: housekeeping.sweep(conn, at, cfg, self._blobs(cfg)),
        }
        if job_id not in jobs:
            raise ValueError(f"no scheduled job {job_id!r}; jobs: {', '.join(JOB_IDS)}")
        at = now or self.now()
        config = self.config()

        def work(conn: Tx) -> Any:
            if period is not None and not _lease_free(runs.lease(conn, job_id), at, period):
                return None
            result = jobs[job_id](conn, at, config)
            _record_run(conn, job_id, at, result=msgspec.json.encode(summary(result)).decode())
            return result

        try:
            return self.db.write(work)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.db.write(lambda conn: _record_run(conn, job_id, at, error=error))
            raise

    def _blobs(self, config: policy.Config) -> BlobStore:
        return self.blobs if self.blobs is not None else open_store(self.data_dir, config.blobs)

    def sla_watch(self, now: dt.datetime | None = None) -> list[sla.Escalation]:
        return self.run(SLA_WATCH, now)  # type: ignore[no-any-return]

    def maintenance(self, now: dt.datetime | None = None) -> list[Generated]:
        return self.run(MAINTENANCE, now)  # type: ignore[no-any-return]

    def housekeeping(self, now: dt.datetime | None = None) -> Swept:
        return self.run(HOUSEKEEPING, now)  # type: ignore[no-any-return]


# A run stands down when the job started less than this share of its period ago (in any
# process): below 1, so a process's own next tick, a little early by scheduling jitter, runs.
LEASE_SHARE = 0.9


def _lease_free(last_started: str | None, at: dt.datetime, period: float) -> bool:
    if last_started is None:
        return True
    return (at - dt.datetime.fromisoformat(last_started)).total_seconds() >= LEASE_SHARE * period


def summary(result: Any) -> Any:
    """What a run did, short enough for a log line and ``scheduler_runs.last_result``."""
    if isinstance(result, list):
        return {"count": len(result), "items": [getattr(r, "job_id", str(r)) for r in result[:50]]}
    if isinstance(result, tuple) and hasattr(result, "_asdict"):
        return result._asdict()
    return result


def _record_run(conn: Tx, job_id: str, at: dt.datetime, result: str | None = None, error: str | None = None) -> None:
    stamp, finished = at.astimezone(dt.timezone.utc).isoformat(), utcnow().isoformat()
    ok = stamp if error is None else None
    runs.record_run(conn, job_id, stamp, finished, ok, result, error)


def last_runs(conn: Tx) -> dict[str, dict[str, Any]]:
    return runs.last_runs(conn)


class ServerScheduler:
    """The APScheduler that runs ``ScheduledWork`` on the intervals of ``config.toml``."""

    def __init__(self, work: ScheduledWork) -> None:
        self.work = work
        self._scheduler: BackgroundScheduler | None = None
        self._periods: dict[str, float] = {}

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        """Add the jobs (fixed ids, replacing any) and start; the first runs are due at once,
        so a server that was down catches up immediately."""
        if self.running:
            return
        cfg = self.work.config().scheduler
        intervals = {
            SLA_WATCH: cfg.sla_interval_seconds,
            MAINTENANCE: cfg.maintenance_interval_seconds,
            HOUSEKEEPING: cfg.housekeeping_interval_seconds,
        }
        scheduler = BackgroundScheduler(
            timezone=dt.timezone.utc,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        first = utcnow()
        for job_id, seconds in intervals.items():
            scheduler.add_job(
                self._tick,
                IntervalTrigger(seconds=seconds, timezone=dt.timezone.utc),
                args=[job_id],
                id=job_id,
                name=job_id,
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
                next_run_time=first,
            )
        self._periods = dict(intervals)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(f"{j} every {s:g} s" for j, s in intervals.items()))

    def stop(self) -> None:
        """Stop firing and wait for a running job to commit (or roll back) before returning."""
        if self._scheduler is None:
            return
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._scheduler = None
        log.info("scheduler stopped")

    def _tick(self, job_id: str) -> None:
        try:
            result = self.work.run(job_id, period=self._periods.get(job_id))
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next interval", job_id)
            return
        done = summary(result)
        if done and (not isinstance(done, dict) or any(done.values())):
            log.info("%s: %s", job_id, done)

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("scheduled job %s missed its run at %s", event.job_id, event.scheduled_run_time)
        else:
            log.error("scheduled job %s raised %r", event.job_id, event.exception)
