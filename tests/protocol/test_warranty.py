"""sync_protocol.warranty: the equipment's cover on a day, and a job's warranty on its report date."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_protocol import Diagnosis, Equipment, JobEvent
from sync_protocol.warranty import job_warranty, warranty_of

DAY = dt.date(2026, 11, 20)


def eq(end: dt.date | None, ident: str = "EQ-1") -> Equipment:
    return Equipment(id=ident, site_id="S-1", model="m", serial="s", warranty_end=end)


IN, OUT, NONE = eq(DAY), eq(DAY - dt.timedelta(days=1), "EQ-2"), eq(None, "EQ-3")


@pytest.mark.parametrize(
    "equipment, expected",
    [
        ([IN], "in"),
        ([OUT], "out"),
        ([NONE], "unknown"),
        ([], "unknown"),
        ([IN, OUT], "out"),
        ([IN, NONE], "unknown"),
        ([OUT, NONE], "out"),
        ([IN, IN], "in"),
    ],
)
def test_job_warranty_table(equipment: list[Equipment], expected: str) -> None:
    assert job_warranty(equipment, DAY) == expected


def test_a_human_cause_voids_the_warranty_on_site() -> None:
    human = JobEvent(
        id="e",
        job_id="J",
        hlc="0" * 16,
        at=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc),
        payload=Diagnosis(cause="human", findings="dropped"),
    )
    assert warranty_of(IN, [], DAY).covered
    verdict = warranty_of(IN, [human], DAY)
    assert not verdict.covered and verdict.reason.startswith("void")
    assert not warranty_of(NONE, [], DAY).covered
