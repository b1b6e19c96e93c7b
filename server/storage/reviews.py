"""The supervisor's reviews of backup-audit findings: who looked at a finding, when, and what
they said about it.

A review is the office's own note about an engineer's work, not a record of the sync protocol:
it lives in its own table, outside ``records``, so no pull page ever carries it to a laptop.
It is tamper-evident like every record: the action that writes it chains a row (entity
``finding_review``, the review's ``version``, the SHA-256 of ``data``), and ``audit.verify``
checks the stored review against that row. A finding reviewed again keeps one row here (the
latest review, a new version); the chain keeps every earlier one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from .base import Tx

ENTITY = "finding_review"
_canonical = msgspec.json.Encoder(order="sorted")


class Review(NamedTuple):
    id: str  # the finding: "{job_id}|{engineer}"
    job_id: str
    engineer: str
    version: int  # 1 at the first review of the finding, +1 at each later one
    reviewed_by: str  # user id
    reviewed_at: str  # ISO 8601, UTC
    comment: str

    def data(self) -> str:
        """The review's canonical JSON: what its audit row's ``record_sha`` covers."""
        fields = self._asdict()
        del fields["version"]
        return _canonical.encode(fields).decode()


def finding_id(job_id: str, engineer: str) -> str:
    return f"{job_id}|{engineer}"


_COLUMNS = "id, job_id, engineer, version, reviewed_by, reviewed_at, comment"


def save(tx: Tx, job_id: str, engineer: str, reviewed_by: str, reviewed_at: str, comment: str) -> Review:
    """Store the review of a finding (replacing an earlier one, under the next version)."""
    key = finding_id(job_id, engineer)
    row = tx.execute("SELECT version FROM finding_reviews WHERE id=?", (key,)).fetchone()
    review = Review(key, job_id, engineer, (int(row[0]) if row else 0) + 1, reviewed_by, reviewed_at, comment)
    tx.execute("DELETE FROM finding_reviews WHERE id=?", (key,))
    tx.execute(f"INSERT INTO finding_reviews({_COLUMNS}) VALUES (?,?,?,?,?,?,?)", tuple(review))
    return review


def get(tx: Tx, review_id: str) -> Review | None:
    row = tx.execute(f"SELECT {_COLUMNS} FROM finding_reviews WHERE id=?", (review_id,)).fetchone()
    return None if row is None else _review(row)


def every(tx: Tx) -> dict[tuple[str, str], Review]:
    """The latest review of every reviewed finding, keyed (job id, engineer)."""
    return {(r.job_id, r.engineer): r for r in map(_review, tx.execute(f"SELECT {_COLUMNS} FROM finding_reviews"))}


def _review(row: Any) -> Review:
    return Review(row[0], row[1], row[2], int(row[3]), row[4], row[5], row[6])
