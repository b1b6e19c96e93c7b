"""Syncing from the app: one sync at a time, in the background, with its progress for the page.

The page asks for a sync and returns at once; the sync runs in a thread of its own over the
same ``FieldClient`` (its store serialises writes with the CLI's, which may sync too), and
``SyncRunner.state()`` tells the page what is happening: the stage and its count (drawings
downloading...), the last report, and whether the server answers. Whether it answers is asked
at most every ``reach_every`` seconds, and never while a page is being drawn.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any, Callable

from sync_protocol import ProtocolError

from ..client import FieldClient
from ..errors import FieldClientError, ServerUnreachable
from ..report import SyncReport


class SyncRunner:
    def __init__(
        self, client: FieldClient, reach_every: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.reach_every = reach_every
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._progress: dict[str, Any] | None = None
        self._report: SyncReport | None = None
        self._error: tuple[str, str] | None = None  # (code, message) of the last sync
        self._finished_at: dt.datetime | None = None
        self._runs = 0
        self._reachable: bool | None = None
        self._reached_at: float | None = None

    # --- syncing -------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start a sync unless one runs already; True if this call started it."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._progress = {"stage": "hello", "done": 0, "total": None}
            self._thread = threading.Thread(target=self._run, name="fieldui-sync", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running sync (if any) ends; True if none runs now."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        report, error = None, None
        try:
            report = self.client.sync(progress=self._on_progress)
            reachable: bool | None = True
        except ServerUnreachable as exc:
            error, reachable = ("unreachable", exc.message), False
        except ProtocolError as exc:
            error, reachable = (exc.code, exc.message), True
        except FieldClientError as exc:
            error, reachable = (type(exc).__name__, exc.message), None
        except Exception as exc:  # noqa: BLE001  (shown on the page; the app keeps running)
            error, reachable = ("error", f"{type(exc).__name__}: {exc}"), None
        with self._lock:
            self._report, self._error = report, error
            self._finished_at = dt.datetime.now(dt.timezone.utc)
            self._runs += 1
            self._progress = None
            if reachable is not None:
                self._reachable, self._reached_at = reachable, self._clock()

    def _on_progress(self, stage: str, done: int, total: int | None) -> None:
        with self._lock:
            self._progress = {"stage": stage, "done": done, "total": total}

    # --- what the page shows ---------------------------------------------------------------------

    def reachable(self, ask: bool = False) -> bool | None:
        """Whether the server answered lately; with ``ask``, asks when the answer is stale."""
        with self._lock:
            fresh = self._reached_at is not None and self._clock() - self._reached_at < self.reach_every
            known = self._reachable
        if not ask or fresh:
            return known
        answer = self.client.reachable(timeout=2.0)
        with self._lock:
            self._reachable, self._reached_at = answer, self._clock()
        return answer

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "running": self._progress is not None,
                "progress": self._progress,
                "report": self._report,
                "error": self._error,
                "finished_at": self._finished_at,
                "runs": self._runs,
                "reachable": self._reachable,
            }
