"""Dispatch: fault intake with the severity policy's deadlines, assign, cancel, corrections, board."""

from __future__ import annotations

import datetime as dt

import pytest

from server.office import jobs
from sync_protocol import Job

from .conftest import bearer, post_form, record_of, version_of
from tests.support.databases import write_config

REPORTED = "2026-11-20T08:00:00+00:00"


def intake(client, token: str, **overrides):
    body = {
        "customer_id": "C-01",
        "site_id": "S-01",
        "equipment_ids": ["EQ-001"],
        "fault": "Storage array offline",
        "severity": 1,
        "reported_by": "Liu Yang",
        "reported_at": REPORTED,
        **overrides,
    }
    return client.post("/api/v1/jobs", json=body, headers=bearer(token))


@pytest.mark.parametrize(
    ("severity", "respond", "onsite"),
    [(1, "08:30", "10:00"), (2, "09:00", "12:00"), (3, "12:00", "08:00"), (4, "08:00", "08:00")],
)
def test_intake_takes_deadlines_from_the_severity_policy(client, tokens, severity, respond, onsite) -> None:
    answer = intake(client, tokens["chen-jing"], severity=severity)

    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["status"] == "new" and job["severity"] == severity
    reported = dt.datetime.fromisoformat(REPORTED)
    respond_by, onsite_by = (dt.datetime.fromisoformat(job[k]) for k in ("respond_by", "onsite_by"))
    assert respond_by.strftime("%H:%M") == respond and onsite_by.strftime("%H:%M") == onsite
    expected_days = {1: (0, 0), 2: (0, 0), 3: (0, 1), 4: (1, 3)}[severity]
    assert ((respond_by - reported).days, (onsite_by - reported).days) == expected_days


def test_the_policy_in_config_toml_applies_to_the_next_intake(client, tokens, data_dir) -> None:
    write_config(data_dir, "[severity.1]\nrespond_minutes = 15\nonsite_minutes = 60\n")

    job = intake(client, tokens["chen-jing"]).json()

    assert job["respond_by"].startswith("2026-11-20T08:15") and job["onsite_by"].startswith("2026-11-20T09:00")


def test_intake_numbers_jobs_after_the_highest_and_can_assign_at_once(client, tokens, app) -> None:
    job = intake(client, tokens["chen-jing"], assignee="li-wei").json()

    assert (job["id"], job["number"]) == ("J-0013", "SR-2026-0013")
    assert job["status"] == "assigned" and job["assignee"] == "u-li-wei"
    assert record_of(app, "job", "J-0013")["reported_by"] == "Liu Yang"


@pytest.mark.parametrize(
    ("equipment", "days_after_eq1_ends", "warranty"),
    [
        (["EQ-001"], 0, "in"),  # the warranty's last day
        (["EQ-001"], 1, "out"),
        (["EQ-001", "EQ-007"], 1, "out"),  # part of the work is paid
        ([], 0, "unknown"),
    ],
)
def test_intake_derives_the_jobs_warranty_from_its_equipment(
    client, tokens, app, equipment, days_after_eq1_ends, warranty
) -> None:
    ends = dt.date.fromisoformat(record_of(app, "equipment", "EQ-001")["warranty_end"])
    reported = dt.datetime.combine(ends + dt.timedelta(days=days_after_eq1_ends), dt.time(8), dt.timezone.utc)
    job = intake(client, tokens["chen-jing"], equipment_ids=equipment, reported_at=reported.isoformat()).json()

    assert record_of(app, "job", job["id"]).get("warranty", "unknown") == warranty  # the default is omitted


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"site_id": "S-04"}, "site_id"),  # a site of another customer
        ({"equipment_ids": ["EQ-999"]}, "equipment_ids"),
        ({"customer_id": "C-99"}, "customer_id"),
        ({"assignee": "zhao-lei"}, "assignee"),  # not an engineer
    ],
)
def test_intake_refuses_what_does_not_fit_by_field(client, tokens, overrides, field) -> None:
    answer = intake(client, tokens["chen-jing"], **overrides)
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert client.get("/api/v1/jobs/J-0013", headers=bearer(tokens["chen-jing"])).status_code == 404


def test_a_bad_severity_is_refused_before_anything_is_written(client, tokens) -> None:
    answer = intake(client, tokens["chen-jing"], severity=5)
    assert (answer.status_code, answer.json()["error"], answer.json()["field"]) == (422, "invalid", "severity")


def test_cancel_and_the_state_machine(client, tokens) -> None:
    headers = bearer(tokens["chen-jing"])
    assert client.post("/api/v1/jobs/J-0001/cancel", headers=headers).json()["status"] == "cancelled"
    again = client.post("/api/v1/jobs/J-0001/cancel", headers=headers)
    assert again.status_code == 409 and again.json()["error"] == "illegal_transition"


def test_correcting_severity_recomputes_deadlines_through_the_merge(client, tokens, app) -> None:
    headers = bearer(tokens["chen-jing"])
    job = intake(client, tokens["chen-jing"], severity=3).json()

    answer = client.patch(
        f"/api/v1/jobs/{job['id']}",
        headers=headers,
        json={"base_version": job["version"], "severity": 1, "fault": "Now the whole array"},
    )

    assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text
    stored = record_of(app, "job", job["id"])
    assert stored["severity"] == 1 and stored["fault"] == "Now the whole array"
    assert stored["respond_by"].startswith("2026-11-20T08:30") and stored["onsite_by"].startswith("2026-11-20T10:00")
    assert version_of(app, "job", job["id"]) == answer.json()["version"] > job["version"]


def test_the_board_orders_by_urgency_across_statuses_deadline_then_severity() -> None:
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)

    def job(n: int, status: str, due_minutes: int, severity: int = 2) -> Job:
        due = now + dt.timedelta(minutes=due_minutes)
        return Job(
            id=f"J-{n}",
            number=f"N{n}",
            customer_id="C",
            site_id="S",
            severity=severity,
            reported_at=now - dt.timedelta(hours=1),
            respond_by=due,
            onsite_by=due,
            status=status,
        )

    rows = [
        jobs.summarize(j, 1, {}, now)
        for j in (
            job(1, "assigned", 90),
            job(2, "assigned", -5),
            job(3, "new", 15),
            job(4, "on_site", 0),
            job(5, "escalated", 300),
            job(6, "assigned", 30, severity=3),
            job(7, "new", 30, severity=1),
            job(8, "cancelled", 10),
        )
    ]

    ordered = [r.id for r in sorted(rows, key=jobs.urgency)]
    # Overdue first, then the least time left whatever the status; a tie goes to the more
    # severe; jobs owing no promise (on site) after, closed ones last.
    assert ordered == ["J-2", "J-3", "J-7", "J-6", "J-1", "J-5", "J-4", "J-8"]
    by_id = {r.id: r for r in rows}
    assert by_id["J-2"].overdue and by_id["J-2"].sla_left_s == -300 and by_id["J-2"].sla_state == "overdue"
    assert (by_id["J-3"].sla_target, by_id["J-1"].sla_target, by_id["J-4"].sla_target) == ("respond", "onsite", "")
    # 15 of 75 minutes left is within the last quarter: amber before red; 90 of 150 is not.
    assert (by_id["J-3"].sla_state, by_id["J-1"].sla_state, by_id["J-4"].sla_state) == ("at_risk", "ok", "")
    assert by_id["J-7"].name == "N7 (J-7)"


def test_the_intake_page_creates_assigns_and_shows_the_job_on_the_board(dispatcher, app) -> None:
    answer = post_form(
        dispatcher,
        "/office/jobs/new",
        "/office/jobs",
        {
            "customer_id": "C-01",
            "site_id": "S-01",
            "equipment_ids": ["EQ-001"],
            "severity": "1",
            "fault": "服务器宕机 server down",
            "reported_by": "Liu Yang",
            "reported_at": "",
        },
    )
    assert answer.status_code == 303, answer.text
    job_url = answer.headers["location"]
    assert job_url == "/office/jobs/J-0013"
    sheet = dispatcher.get(job_url)
    assert "Job SR-2026-0013 (J-0013) created" in sheet.text and "服务器宕机 server down" in sheet.text

    assigned = post_form(dispatcher, job_url, f"{job_url}/assign", {"assignee": "li-wei"})
    assert assigned.status_code == 303
    assert record_of(app, "job", "J-0013")["assignee"] == "u-li-wei"
    board = dispatcher.get("/office/board")
    row = board.text.split('data-job="J-0013"')[1].split("</tr>")[0]
    assert "Li Wei" in row and "S1" in row and "to be on site" in row


def test_the_intake_page_shows_the_reason_and_keeps_what_was_typed(dispatcher) -> None:
    answer = post_form(
        dispatcher,
        "/office/jobs/new",
        "/office/jobs",
        {"customer_id": "C-01", "site_id": "S-04", "severity": "2", "fault": "keep this text"},
    )
    assert answer.status_code == 422
    assert "no site S-04 of customer C-01" in answer.text and "keep this text" in answer.text


def test_the_edit_page_changes_only_what_was_changed(dispatcher, app) -> None:
    before = record_of(app, "job", "J-0002")
    answer = post_form(
        dispatcher,
        "/office/jobs/J-0002/edit",
        "/office/jobs/J-0002/edit",
        {
            "base_version": version_of(app, "job", "J-0002"),
            "fault": before["fault"],
            "severity": "1",
            "_orig_fault": before["fault"],
            "_orig_severity": str(before["severity"]),
        },
    )
    assert answer.status_code == 303
    after = record_of(app, "job", "J-0002")
    assert after["severity"] == 1 and after["fault"] == before["fault"]
    assert after["onsite_by"] < before["onsite_by"]
