"""The SLA rule of sync_protocol.sla: which promise runs in which state, and when it is missed.

The board, the SLA watch and the laptop all call these functions; the table below is the
behaviour DOMAIN.md promises customers, written out per (status, checked in).
"""

from __future__ import annotations

import datetime as dt
import typing

import pytest

from sync_protocol import Checkin, Job, JobEvent, Note, sla
from sync_protocol.states import STATUSES

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
RESPOND_BY = T0 + dt.timedelta(minutes=30)
ONSITE_BY = T0 + dt.timedelta(hours=2)


def job(status: str, flags: list[str] | None = None) -> Job:
    return Job(
        id="J-1",
        number="SR-1",
        customer_id="C-1",
        site_id="S-1",
        severity=1,
        reported_at=T0,
        respond_by=RESPOND_BY,
        onsite_by=ONSITE_BY,
        status=status,  # type: ignore[arg-type]
        flags=flags or [],
    )


# (status, checked in) -> the promises still running, in order.
RUNNING = {
    ("new", False): ["respond", "onsite"],
    ("new", True): ["respond"],
    ("assigned", False): ["onsite"],
    ("assigned", True): [],
    ("escalated", False): ["onsite"],  # escalated by the watch: the visit is still owed
    ("escalated", True): [],  # escalated by the engineer after the visit
    ("on_site", False): [],
    ("on_site", True): [],
    ("resolved", False): [],
    ("resolved", True): [],
    ("closed", False): [],
    ("closed", True): [],
    ("cancelled", False): [],
    ("cancelled", True): [],
}


def test_the_table_covers_every_status() -> None:
    assert {status for status, _ in RUNNING} == set(STATUSES)


@pytest.mark.parametrize("status, visited", sorted(RUNNING))
def test_running_promises(status: str, visited: bool) -> None:
    running = sla.running(job(status), visited)
    assert [d.target for d in running] == RUNNING[(status, visited)]
    expected_first = RUNNING[(status, visited)][0] if RUNNING[(status, visited)] else None
    first = sla.next_deadline(job(status), visited)
    assert (first.target if first else None) == expected_first
    if first is not None:
        assert first.due == {"respond": RESPOND_BY, "onsite": ONSITE_BY}[first.target]


@pytest.mark.parametrize("status, visited", sorted(RUNNING))
def test_missed_only_escalates_new_and_assigned_jobs(status: str, visited: bool) -> None:
    late = T0 + dt.timedelta(hours=3)
    flags = sla.missed(job(status), late, visited)
    if status in sla.ESCALATES_FROM:
        assert flags == [sla.FLAG_OF[t] for t in RUNNING[(status, visited)]]
    else:
        assert flags == []


def test_a_promise_is_missed_only_after_its_deadline_and_flagged_once() -> None:
    assert sla.missed(job("new"), RESPOND_BY, checked_in=False) == []
    assert sla.missed(job("new"), RESPOND_BY + dt.timedelta(seconds=1), False) == [sla.RESPOND_MISSED]
    flagged = job("assigned", flags=[sla.ONSITE_MISSED])
    assert sla.missed(flagged, ONSITE_BY + dt.timedelta(hours=1), False) == []


def test_a_job_without_deadlines_owes_nothing() -> None:
    bare = Job(id="J-2", number="SR-2", customer_id="C", site_id="S", severity=4, reported_at=T0)
    assert sla.running(bare, False) == [] and sla.missed(bare, T0 + dt.timedelta(days=9), False) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.missed(job("new"), dt.datetime(2026, 11, 25, 12, 0), False)


def test_a_checkin_event_ends_the_onsite_promise() -> None:
    def event(payload: typing.Any) -> JobEvent:
        return JobEvent(id="e", job_id="J-1", hlc="0" * 16, at=T0, payload=payload)

    assert not sla.checked_in([event(Note(text="phoned"))])
    assert sla.checked_in([event(Note(text="phoned")), event(Checkin())])
