"""SLA watch with an injected clock, the severity policy file, and the scheduler's life with the app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from server import policy, scheduler, sla
from server.storage import audit
from server.storage import records as store
from server.app import create_app
from server.scheduler import ScheduledWork
from sync_protocol import Checkin, Job, Upsert

from tests.support.live import wait_until

from .conftest import World
from tests.support.databases import write_config

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)


def _job(
    job_id: str,
    severity: int,
    status: str,
    assignee: str | None = "u-li-wei",
    reported_at: dt.datetime = T0,
    config: Any = None,
) -> Job:
    respond_by, onsite_by = policy.deadlines(severity, reported_at, config)
    return Job(
        id=job_id,
        number=f"SR-{job_id}",
        customer_id="C-01",
        site_id="S-01",
        severity=severity,
        reported_at=reported_at,
        respond_by=respond_by,
        onsite_by=onsite_by,
        status=status,
        assignee=assignee if status != "new" else None,
    )


@pytest.fixture
def work(world: World) -> ScheduledWork:
    return ScheduledWork(world.db, world.data_dir, world.state.clock)


def _put(world: World, *jobs: Job) -> None:
    world.db.write(lambda c: [store.put(c, j) for j in jobs])


def _sla_rows(world: World) -> list[audit.Row]:
    return [r for r in world.db.read(lambda c: list(audit.rows(c))) if r.kind == "sla.escalate"]


def test_a_level_1_job_not_checked_in_within_2_hours_is_escalated_once(world: World, work: ScheduledWork) -> None:
    _put(world, _job("J-S1", 1, "assigned"))
    assert work.sla_watch(T0 + 2 * dt.timedelta(hours=1) - MIN) == []  # 1 h 59: still in time
    before = world.version("job", "J-S1")

    done = work.sla_watch(T0 + dt.timedelta(hours=2) + MIN)
    assert [(e.job_id, e.flags) for e in done] == [("J-S1", [sla.ONSITE_MISSED])]
    job = world.record("job", "J-S1")
    assert job.status == "escalated" and job.flags == [sla.ONSITE_MISSED]
    escalated_version = world.version("job", "J-S1")
    assert escalated_version > before

    assert work.sla_watch(T0 + dt.timedelta(hours=2) + MIN) == []  # the same run twice
    assert work.sla_watch(T0 + dt.timedelta(days=3)) == []  # and much later
    assert world.version("job", "J-S1") == escalated_version
    assert world.record("job", "J-S1").flags == [sla.ONSITE_MISSED]
    assert len(_sla_rows(world)) == 1


def test_a_new_job_nobody_took_misses_its_respond_by_first(world: World, work: ScheduledWork) -> None:
    _put(world, _job("J-S2", 1, "new"))
    done = work.sla_watch(T0 + 31 * MIN)
    assert [e.flags for e in done] == [[sla.RESPOND_MISSED]]
    assert world.record("job", "J-S2").status == "escalated"
    assert work.sla_watch(T0 + 3 * dt.timedelta(hours=1)) == []  # escalated: not looked at again


def test_a_job_reassigned_after_escalation_can_miss_the_other_deadline_once(world: World, work: ScheduledWork) -> None:
    _put(world, _job("J-S3", 2, "new"))
    work.sla_watch(T0 + 61 * MIN)
    office = world.device("u-chen-jing")
    assert office.post("/api/v1/jobs/J-S3/assign", _assign("li-wei")).status_code == 200
    assert world.record("job", "J-S3").status == "assigned"
    done = work.sla_watch(T0 + 4 * dt.timedelta(hours=1) + MIN)
    assert [e.flags for e in done] == [[sla.ONSITE_MISSED]]
    assert world.record("job", "J-S3").flags == [sla.RESPOND_MISSED, sla.ONSITE_MISSED]
    assert work.sla_watch(T0 + dt.timedelta(days=1)) == []


def test_a_job_the_dispatcher_reassigned_after_its_escalation_stays_assigned(world: World, work: ScheduledWork) -> None:
    """The deadline is still past, but the miss was flagged and acted on: no flapping back."""
    _put(world, _job("J-S8", 1, "assigned"))
    work.sla_watch(T0 + dt.timedelta(hours=3))
    office = world.device("u-chen-jing")
    assert office.post("/api/v1/jobs/J-S8/assign", _assign("zhang-min")).status_code == 200
    assert work.sla_watch(T0 + dt.timedelta(hours=4)) == []
    assert world.record("job", "J-S8").status == "assigned" and len(_sla_rows(world)) == 1


def _assign(who: str) -> Any:
    from sync_protocol import AssignRequest

    return AssignRequest(assignee=who)


def test_a_job_checked_in_in_time_is_left_alone(world: World, work: ScheduledWork) -> None:
    _put(world, _job("J-S4", 1, "assigned"))
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    laptop.push(laptop.event("J-S4", Checkin()))
    assert world.record("job", "J-S4").status == "on_site"
    assert work.sla_watch(T0 + dt.timedelta(days=1)) == []


def test_jobs_without_deadlines_or_in_other_states_are_left_alone(world: World, work: ScheduledWork) -> None:
    _put(world, *(_job(f"J-X{s}", 1, s) for s in ("resolved", "cancelled", "closed", "on_site")))
    # The seed jobs J-1..J-3 have no deadlines at all.
    assert work.sla_watch(T0 + dt.timedelta(days=30)) == []


def test_the_escalation_syncs_to_the_engineers_laptop_and_a_checkin_still_counts(
    world: World, work: ScheduledWork
) -> None:
    _put(world, _job("J-S5", 1, "assigned"))
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    work.sla_watch(T0 + dt.timedelta(hours=3))
    changes = [c for c in laptop.pull_all() if isinstance(c, Upsert) and c.record.id == "J-S5"]
    assert [(c.record.status, c.record.flags) for c in changes] == [("escalated", [sla.ONSITE_MISSED])]
    result = laptop.push(laptop.event("J-S5", Checkin())).results[0]
    assert result.status == "applied" and world.record("job", "J-S5").status == "on_site"


def test_the_severity_policy_comes_from_config_toml(world: World, work: ScheduledWork) -> None:
    write_config(world.data_dir, "[severity.1]\nrespond_minutes = 10\nonsite_minutes = 45\n")
    d = policy.deadlines(1, T0, world.data_dir)
    assert (d.respond_by - T0, d.onsite_by - T0) == (10 * MIN, 45 * MIN)
    assert policy.deadlines(2, T0, world.data_dir).onsite_by - T0 == dt.timedelta(hours=4)  # default kept
    _put(world, _job("J-S6", 1, "assigned", config=world.data_dir))
    assert [e.job_id for e in work.sla_watch(T0 + 46 * MIN)] == ["J-S6"]


@pytest.mark.parametrize(
    "text, names",
    [
        ("[severity.5]\nrespond_minutes = 1\nonsite_minutes = 2\n", "severity.5"),
        ("[severity.1]\nrespond_minutes = 60\nonsite_minutes = 30\n", "severity.1"),
        ("[scheduler]\nsla_interval = 5\n", "sla_interval"),
        ("[schedular]\n", "schedular"),
        ("[severity.1\n", "config.toml"),
    ],
)
def test_a_broken_config_is_refused_naming_the_key(tmp_path: Path, text: str, names: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(policy.ConfigError, match=names.replace(".", r"\.")):
        policy.load(tmp_path)


def test_each_run_is_recorded_and_a_failure_rolls_back_and_is_recorded(
    world: World, work: ScheduledWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(world, _job("J-S7", 1, "assigned"))

    def half_then_fail(conn: Any, now: dt.datetime, hlc: str) -> Any:
        sla._escalate(conn, now, hlc, store.get(conn, "job", "J-S7"), world.record("job", "J-S7"), [sla.ONSITE_MISSED])
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sla, "watch", half_then_fail)
    with pytest.raises(RuntimeError):
        work.sla_watch(T0 + dt.timedelta(hours=3))
    assert world.record("job", "J-S7").status == "assigned" and _sla_rows(world) == []
    runs = world.db.read(scheduler.last_runs)
    assert runs["sla_watch"]["last_error"] == "RuntimeError: disk on fire" and runs["sla_watch"]["last_ok_at"] is None

    monkeypatch.undo()
    work.sla_watch(T0 + dt.timedelta(hours=3))
    runs = world.db.read(scheduler.last_runs)["sla_watch"]
    assert (
        runs["runs"] == 2
        and runs["last_error"] is None
        and runs["last_ok_at"] == (T0 + dt.timedelta(hours=3)).isoformat()
    )
    assert '"J-S7"' in runs["last_result"]


def test_an_unknown_job_id_is_refused(work: ScheduledWork) -> None:
    with pytest.raises(ValueError, match="no scheduled job"):
        work.run("coffee")


def test_the_scheduler_runs_with_the_app_and_stops_with_it(tmp_path: Path) -> None:
    data = tmp_path / "server"
    data.mkdir()
    write_config(data, "[scheduler]\nsla_interval_seconds = 0.2\n")
    app = create_app(data, scheduler=True)
    db = app.state.fieldsync.db
    now = dt.datetime.now(dt.timezone.utc)
    overdue = _job("J-LATE", 1, "assigned", reported_at=now - dt.timedelta(hours=3))
    db.write(lambda c: store.put_many(c, [_customer(), _site(), overdue]))
    assert not app.state.scheduler.running
    with TestClient(app):
        assert app.state.scheduler.running
        assert wait_until(lambda: db.read(lambda c: store.get(c, "job", "J-LATE")).record.status == "escalated")
        jobs = {j.id: j for j in app.state.scheduler._scheduler.get_jobs()}
        assert set(jobs) == set(scheduler.JOB_IDS)
        assert all(j.misfire_grace_time is None and j.coalesce and j.max_instances == 1 for j in jobs.values())
    assert not app.state.scheduler.running


def test_the_app_runs_no_scheduler_unless_asked(tmp_path: Path) -> None:
    app = create_app(tmp_path / "server")
    with TestClient(app):
        assert app.state.scheduler is None


def _customer() -> Any:
    from sync_protocol import Customer

    return Customer(id="C-01", name="c")


def _site() -> Any:
    from sync_protocol import Site

    return Site(id="S-01", customer_id="C-01", name="s")


def test_cli_runs_one_job_at_a_given_time(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from server import cli

    _put(world, _job("J-S9", 1, "assigned"))
    args = ["job", "run", "sla_watch", "--data", str(world.data_dir), "--json"]
    assert cli.main([*args, "--now", (T0 + dt.timedelta(hours=3)).isoformat()]) == 0
    assert json.loads(capsys.readouterr().out) == {"job": "sla_watch", "result": {"count": 1, "items": ["J-S9"]}}
    assert world.record("job", "J-S9").status == "escalated"
    assert cli.main([*args, "--now", "2026-11-25T12:00:00"]) == 1  # no timezone: refused
    assert "timezone" in capsys.readouterr().err
