"""What a sync tells the engineer as it goes (``Progress``) and when it is done (``SyncReport``):
the one shape the command line, the laptop's app and scripts (``field sync --json``) read."""

from __future__ import annotations

from typing import Callable

import msgspec

# ``progress(stage, done, total)``: stage is "upload", "push", "pull" or "drawings"; total may be None.
Progress = Callable[[str, int, "int | None"], None]


def silent(stage: str, done: int, total: int | None) -> None:
    pass


class SyncReport(msgspec.Struct, kw_only=True):
    """What one sync did, for the engineer and for scripts (``field sync --json``)."""

    pushed: int = 0
    applied: int = 0
    merged: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0
    removed: int = 0
    kept: int = 0
    pages: int = 0
    reset: bool = False
    blobs_uploaded: int = 0
    blobs_downloaded: int = 0
    problems: list[str] = []
    new_jobs: list[str] = []  # ids of jobs this laptop did not hold before (a new assignment)
    flagged: list[str] = []  # ids of open conflicts it did not hold before: a person decides

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def needs_person(self) -> bool:
        """Something was refused, went wrong, or was flagged for a person to decide."""
        return bool(self.problems or self.flagged)
