"""Preventive maintenance: every 2 weeks for 3 months after handover, then monthly; never twice."""

from __future__ import annotations

import datetime as dt

import pytest

from server import maintenance, policy
from server.storage import audit
from server.storage import records as store
from server.scheduler import ScheduledWork
from sync_protocol import Customer, Equipment, Site

from .conftest import World
from tests.support.databases import write_config

HANDOVER = dt.date(2026, 1, 10)
# 2-weekly while before 2026-04-10 (handover + 3 months), then on the 10th of each month.
EXPECTED_6_MONTHS = [
    dt.date(2026, 1, 24),
    dt.date(2026, 2, 7),
    dt.date(2026, 2, 21),
    dt.date(2026, 3, 7),
    dt.date(2026, 3, 21),
    dt.date(2026, 4, 4),
    dt.date(2026, 4, 10),
    dt.date(2026, 5, 10),
    dt.date(2026, 6, 10),
    dt.date(2026, 7, 10),
]


def _at(day: dt.date, hour: int = 6) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.timezone.utc)


@pytest.fixture
def work(world: World) -> ScheduledWork:
    world.db.write(
        lambda c: store.put_many(
            c,
            [
                Customer(id="C-PM", name="Handover Ltd"),
                Site(id="S-PM", customer_id="C-PM", name="New plant", handover_date=HANDOVER),
                Equipment(id="EQ-PM-2", site_id="S-PM", model="NVR", serial="PM2"),
                Equipment(id="EQ-PM-1", site_id="S-PM", model="Switch", serial="PM1"),
            ],
        )
    )
    return ScheduledWork(world.db, world.data_dir, world.state.clock)


def _no_horizon(world: World) -> None:
    write_config(world.data_dir, "[maintenance]\nhorizon_days = 0\n")


def _pm_jobs(world: World) -> dict[str, object]:
    rows = world.db.read(
        lambda c: c.execute(
            "SELECT data FROM records WHERE entity='job' AND json_extract(data, '$.kind')='preventive'"
        ).fetchall()
    )
    return {j.id: j for j in (store.decode_record(r[0]) for r in rows)}


def test_the_schedule_is_2_weekly_for_3_months_then_monthly() -> None:
    assert list(maintenance.due_dates(HANDOVER, dt.date(2026, 7, 10))) == EXPECTED_6_MONTHS
    assert list(maintenance.due_dates(HANDOVER, dt.date(2026, 7, 9))) == EXPECTED_6_MONTHS[:-1]
    assert list(maintenance.due_dates(HANDOVER, HANDOVER + dt.timedelta(days=13))) == []


def test_monthly_checks_after_a_handover_on_the_31st_clamp_without_drifting() -> None:
    later = list(maintenance.due_dates(dt.date(2026, 1, 31), dt.date(2026, 9, 30)))[-6:]
    assert later == [
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
        dt.date(2026, 8, 31),
        dt.date(2026, 9, 30),
    ]


def test_six_simulated_months_of_daily_runs_give_exactly_the_expected_jobs(world: World, work: ScheduledWork) -> None:
    _no_horizon(world)
    generated: list[dt.date] = []
    day = HANDOVER - dt.timedelta(days=3)
    while day <= dt.date(2026, 7, 10):
        generated += [g.due for g in work.maintenance(_at(day))]
        day += dt.timedelta(days=1)
    assert generated == EXPECTED_6_MONTHS
    jobs = _pm_jobs(world)
    assert sorted(jobs) == [f"PM-S-PM-{d:%Y%m%d}" for d in EXPECTED_6_MONTHS]

    assert work.maintenance(_at(dt.date(2026, 7, 10), 23)) == []  # a second run the same day
    assert _pm_jobs(world) == jobs


def test_a_generated_job_is_a_severity_4_preventive_job_with_policy_deadlines(
    world: World, work: ScheduledWork
) -> None:
    _no_horizon(world)
    work.maintenance(_at(dt.date(2026, 1, 24)))
    job = _pm_jobs(world)["PM-S-PM-20260124"]
    reported = dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)
    assert (job.kind, job.severity, job.status, job.customer_id, job.site_id) == (
        "preventive",
        4,
        "new",
        "C-PM",
        "S-PM",
    )
    assert job.equipment_ids == ["EQ-PM-1", "EQ-PM-2"]
    assert (job.reported_at, job.respond_by, job.onsite_by) == (reported, *policy.deadlines(4, reported))
    rows = [r for r in world.db.read(lambda c: list(audit.rows(c))) if r.kind == "maintenance.generate"]
    assert [r.id for r in rows] == ["PM-S-PM-20260124"] and world.db.read(audit.verify).ok


def test_a_run_after_downtime_catches_up_and_a_late_double_run_adds_nothing(world: World, work: ScheduledWork) -> None:
    _no_horizon(world)
    first = work.maintenance(_at(dt.date(2026, 2, 22)))  # the first run in six weeks
    assert [g.due for g in first] == EXPECTED_6_MONTHS[:3]  # 2026-01-24 is 29 days back: caught up
    assert work.maintenance(_at(dt.date(2026, 2, 22))) == []
    assert work.maintenance(_at(dt.date(2026, 2, 21))) == []  # a run arriving late, with an older clock


def test_checks_come_up_horizon_days_ahead(world: World, work: ScheduledWork) -> None:
    write_config(world.data_dir, "[maintenance]\nhorizon_days = 7\n")
    assert [g.due for g in work.maintenance(_at(dt.date(2026, 1, 17)))] == [dt.date(2026, 1, 24)]
    assert work.maintenance(_at(dt.date(2026, 1, 23))) == []


def test_a_site_handed_over_years_ago_gets_its_recent_checks_not_years_of_backlog(
    world: World, work: ScheduledWork
) -> None:
    _no_horizon(world)
    world.db.write(
        lambda c: store.put(c, Site(id="S-OLD", customer_id="C-PM", name="Old", handover_date=dt.date(2021, 3, 1)))
    )
    old = [g.due for g in work.maintenance(_at(dt.date(2026, 11, 28))) if g.site_id == "S-OLD"]
    assert old == [dt.date(2026, 11, 1)]  # backfill: 31 days by default


def test_a_check_the_dispatcher_deleted_is_not_generated_again(world: World, work: ScheduledWork) -> None:
    _no_horizon(world)
    work.maintenance(_at(dt.date(2026, 1, 24)))
    world.db.write(lambda c: store.delete(c, "job", "PM-S-PM-20260124"))
    world.db.write(lambda c: c.execute("DELETE FROM records WHERE entity='job' AND id='PM-S-PM-20260124'"))
    assert work.maintenance(_at(dt.date(2026, 1, 25))) == []
    assert "PM-S-PM-20260124" not in _pm_jobs(world)


def test_sites_without_a_handover_date_get_no_checks(world: World) -> None:
    work = ScheduledWork(world.db, world.data_dir, world.state.clock)
    assert work.maintenance(_at(dt.date(2027, 1, 1))) == []  # seed sites S-01, S-02 have none


def test_a_long_site_id_still_gives_a_valid_job_id() -> None:
    long_id = "S-" + "x" * 62
    job_id = maintenance.job_id(long_id, dt.date(2026, 1, 24))
    assert len(job_id) <= 64 and job_id.endswith("-20260124")
    assert job_id == maintenance.job_id(long_id, dt.date(2026, 1, 24))
