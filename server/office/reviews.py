"""Marking a backup-audit finding reviewed: the supervisor's comment, kept on the server only.

The review is written and chained in the audit log in one transaction (``storage.reviews``
says why it is no record). Who may mark is ``permissions.REVIEW``'s, checked by the guard of
the page and the API route; what a comment may be is ``bounds.comment_problem``'s.
"""

from __future__ import annotations

import datetime as dt

from sync_protocol import InvalidValue, NotFound, PartSwap
from sync_protocol.bounds import comment_problem
from sync_protocol.i18n import N_
from sync_protocol.office import FindingReview

from ..principal import Principal
from ..storage import Tx, audit, devices, reviews
from ..storage import records as store

REVIEW_KIND = "office.review"


def mark_reviewed(tx: Tx, who: Principal, job_id: str, engineer: str, comment: str, now: dt.datetime) -> FindingReview:
    """Store ``who``'s review of the finding (``engineer``'s repair work on ``job_id``; the
    engineer's user id or name) and chain it."""
    problem = comment_problem(comment)
    if problem:
        raise InvalidValue(problem, field="comment")
    job = store.get(tx, "job", job_id)
    if job is None:
        raise NotFound(N_("no job {job}", job=job_id), field="job_id")
    # The engineer by id (as the audit's findings name them) or by the name they sign in with.
    engineer = next((u["id"] for u in devices.all_users(tx) if engineer in (u["id"], u["name"])), engineer)
    if not any(isinstance(e.payload, PartSwap) and e.author == engineer for e in store.job_events(tx, job_id)):
        raise NotFound(
            N_("{engineer} made no repair on {job}: there is no finding to review", engineer=engineer, job=job_id),
            field="engineer",
        )
    stamp = now.astimezone(dt.timezone.utc).isoformat()
    review = reviews.save(tx, job_id, engineer, who.user_id, stamp, comment.strip())
    audit.append(
        tx,
        now,
        audit.Actor(who.user_id, who.device_id),
        REVIEW_KIND,
        reviews.ENTITY,
        review.id,
        review.version,
        audit.record_sha(review.data(), review.version, False),
        ref=job.record.number,
    )
    return view(review, {who.user_id: who.display_name})


def view(review: reviews.Review, names: dict[str, str]) -> FindingReview:
    return FindingReview(
        job_id=review.job_id,
        engineer=review.engineer,
        reviewed_by=review.reviewed_by,
        reviewed_by_name=names.get(review.reviewed_by, review.reviewed_by),
        reviewed_at=dt.datetime.fromisoformat(review.reviewed_at),
        comment=review.comment,
        version=review.version,
    )


def names(tx: Tx) -> dict[str, str]:
    return {u["id"]: u["display_name"] for u in devices.all_users(tx)}
