"""The dispatch board's filters and search (server-side, GET: a filtered board is a link), the
open-conflict count in the navigation, and the office's time zone (shown and entered in it,
stored in UTC)."""

from __future__ import annotations

import datetime as dt
import re

from babel.dates import format_date

from server.office import jobs

from .conftest import bearer, post_form, record_of


def board_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="job[^"]*" data-job="([^"]+)"', html)


def test_the_board_filters_and_searches_by_get_query(dispatcher) -> None:
    everything = board_ids(dispatcher.get("/office/board").text)
    assert len(everything) == 12

    assert set(board_ids(dispatcher.get("/office/board?severity=1").text)) == {"J-0001", "J-0004"}
    assert set(board_ids(dispatcher.get("/office/board?engineer=u-wang-fang").text)) == {"J-0008", "J-0009", "J-0010"}
    assert set(board_ids(dispatcher.get("/office/board?customer=C-02&site=S-04").text)) == {"J-0006", "J-0007"}
    assert board_ids(dispatcher.get("/office/board?status=new&severity=4").text) == ["J-0012"]
    # Search: numbers, the fault (Chinese too), customer and site names, case-insensitive.
    assert board_ids(dispatcher.get("/office/board?q=sr-2026-0003").text) == ["J-0003"]
    assert set(board_ids(dispatcher.get("/office/board?q=监控").text)) == {"J-0004"}
    assert set(board_ids(dispatcher.get("/office/board?q=harbour").text)) == {f"J-00{n:02d}" for n in (4, 5, 6, 7)}
    page = dispatcher.get("/office/board?q=harbour&severity=3")
    assert board_ids(page.text) == ["J-0005"]
    assert 'value="harbour"' in page.text and '<option value="3" selected' in page.text  # the form says what is shown


def test_the_api_takes_the_same_filters_and_names_a_bad_one(client, tokens) -> None:
    token = bearer(tokens["chen-jing"])
    rows = client.get("/api/v1/jobs", params={"engineer": "li-wei", "severity": ["1", "2"]}, headers=token).json()
    assert [r["id"] for r in rows] and {r["id"] for r in rows} == {"J-0001", "J-0002"}
    assert all(r["name"] == f"{r['number']} ({r['id']})" for r in rows)

    for query, field in (({"severity": "7"}, "severity"), ({"status": "lost"}, "status")):
        answer = client.get("/api/v1/jobs", params=query, headers=token)
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_the_board_is_in_urgency_order_and_marks_clocks_at_risk(dispatcher, tokens, client) -> None:
    rows = client.get("/api/v1/jobs", headers=bearer(tokens["chen-jing"])).json()
    running = [r for r in rows if r["sla_due"]]
    keys = [(dt.datetime.fromisoformat(r["sla_due"]), r["severity"]) for r in running]
    assert keys == sorted(keys) and rows[: len(running)] == running
    assert {r["sla_state"] for r in running} <= {"ok", "at_risk", "overdue"}
    assert all(r["overdue"] == (r["sla_state"] == "overdue") for r in rows)
    page = dispatcher.get("/office/board").text
    assert board_ids(page) == [r["id"] for r in rows if r["status"] not in ("closed", "cancelled")]
    for r in running:
        row = page.split(f'data-job="{r["id"]}"')[1].split("</tr>")[0]
        assert f"sla-{r['sla_state']}" in row
        assert ("at risk" in row) == (r["sla_state"] == "at_risk") and ("overdue" in row) == r["overdue"]


def test_the_navigation_counts_open_conflicts(dispatcher, li_wei, app) -> None:
    assert 'id="open-conflicts"' not in dispatcher.get("/office/board").text
    li_wei.patch("site", "S-01", 1, contact_phone="+86 139 0000 0001")
    post_form(dispatcher, "/office/data/sites/S-01", "/office/data/sites/S-01", _site_form(app, "+86 21 6666 0000"))
    page = dispatcher.get("/office/board").text
    assert re.search(r'id="open-conflicts"[^>]*>1<', page), page[:2000]


def _site_form(app, phone: str) -> dict[str, str]:
    site = record_of(app, "site", "S-01")
    fields = ("customer_id", "name", "address", "contact_name", "contact_phone", "contact_email", "access_notes")
    original = {k: str(site.get(k) or "") for k in fields}
    import json

    return {**original, "contact_phone": phone, "_base_version": "1", "_original": json.dumps(original)}


def test_times_are_shown_and_entered_in_the_office_time_zone_and_stored_in_utc(dispatcher, data_dir, app) -> None:
    (data_dir / "config.toml").write_text('[office]\ntimezone = "Asia/Shanghai"\n')
    answer = post_form(
        dispatcher,
        "/office/jobs/new",
        "/office/jobs",
        {
            "customer_id": "C-01",
            "site_id": "S-01",
            "equipment_ids": ["EQ-001"],
            "severity": "1",
            "fault": "down",
            "reported_at": "2026-11-20T17:00",  # Shanghai's wall clock
        },
    )
    assert answer.status_code == 303, answer.text
    job = record_of(app, "job", "J-0013")
    assert job["reported_at"].startswith("2026-11-20T09:00:00") and job["reported_at"].endswith(("Z", "+00:00"))
    sheet = dispatcher.get(answer.headers["location"]).text
    assert "Times in Asia/Shanghai (UTC+8)" in sheet
    assert "Nov 20, 2026 17:00 UTC+8" in sheet and "Nov 20, 2026 17:30 UTC+8" in sheet  # reported, respond by
    assert "respond by Nov 20, 2026 17:30 UTC+8, on site by Nov 20, 2026 19:00 UTC+8" in sheet  # the flash


def test_an_unknown_time_zone_is_refused_naming_the_key(data_dir) -> None:
    from server import policy

    (data_dir / "config.toml").write_text('[office]\ntimezone = "Asia/Atlantis"\n')
    try:
        policy.load(data_dir)
    except policy.ConfigError as exc:
        assert "office.timezone" in str(exc) and "Asia/Atlantis" in str(exc)
    else:
        raise AssertionError("an unknown zone was accepted")


def test_the_assignee_picker_starts_empty_on_an_unassigned_job_and_shows_each_load(dispatcher, app) -> None:
    page = dispatcher.get("/office/jobs/J-0011").text  # new, nobody assigned
    picker = page.split('id="assignee"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?\s*(?:lang="[^"]*")?\s*>([^<]*)</option>', picker)
    assert options[0] == ("", "selected", "— choose an engineer —")
    assert not any(selected for value, selected, _ in options[1:])
    state = app.state.fieldsync
    loads, _ = state.db.read(lambda c: jobs.engineer_loads(c, dt.timezone.utc))
    li = next(load for load in loads if load.name == "li-wei")
    assert len(li.jobs) == 3  # J-0001..3, all open
    assert ("li-wei", "", f"Li Wei (李伟) · 3 open, {len(li.today)} due today") in options
    # An assigned job keeps its engineer selected, and an empty choice is refused by name.
    assigned = dispatcher.get("/office/jobs/J-0001").text.split('id="assignee"')[1].split("</select>")[0]
    assert re.search(r'<option value="li-wei"\s*selected\s*(?:lang="[^"]*")?>', assigned) and 'value=""' not in assigned
    refused = post_form(dispatcher, "/office/jobs/J-0011", "/office/jobs/J-0011/assign", {"assignee": ""})
    assert refused.status_code == 303 and record_of(app, "job", "J-0011").get("assignee") is None


def test_the_schedule_lists_each_engineers_jobs_due_today_and_this_week(dispatcher, app) -> None:
    state = app.state.fieldsync
    now = dt.datetime.now(dt.timezone.utc)
    end_of_day, end_of_week = jobs.day_ends(now, dt.timezone.utc)
    rows = state.db.read(lambda c: jobs.board(c, now, statuses=["new", "assigned", "on_site", "escalated"]))
    page = dispatcher.get("/office/schedule").text
    for name, user_id in (("li-wei", "u-li-wei"), ("zhang-min", "u-zhang-min"), ("wang-fang", "u-wang-fang")):
        row = page.split(f'data-engineer="{name}"')[1].split("</tr>")[0]
        today, week = row.split('class="today"')[1].split('class="week"')
        for job in (r for r in rows if r.assignee == user_id and r.sla_due):
            if job.sla_due < end_of_day:
                assert f'data-job="{job.id}"' in today
            elif job.sla_due < end_of_week:
                assert f'data-job="{job.id}"' in week
        due = [r.id for r in rows if r.assignee == user_id and r.sla_due and r.sla_due < end_of_day]
        shown = re.findall(r'data-job="([^"]+)"', today)
        assert shown == due  # by deadline, as the board orders them
    unassigned = page.split('data-engineer=""')[1].split("</tr>")[0]
    assert 'data-job="J-0011"' in unassigned and 'data-job="J-0012"' in unassigned


def test_a_new_job_shows_each_equipments_warranty_and_warns_of_an_open_job_on_it(dispatcher, app) -> None:
    form = dispatcher.get("/office/jobs/new").text
    ends = record_of(app, "equipment", "EQ-001")["warranty_end"]
    label = form.split('value="EQ-001"')[1].split("</label>")[0]
    day = format_date(dt.date.fromisoformat(ends), "medium", locale="en")  # as the page writes a day
    assert f"warranty ended {day}" in label or f"in warranty until {day}" in label
    assert "already has an open job: SR-2026-0001 (J-0001)" in label

    answer = post_form(
        dispatcher,
        "/office/jobs/new",
        "/office/jobs",
        {"customer_id": "C-01", "site_id": "S-01", "equipment_ids": ["EQ-001"], "severity": "2", "fault": "again"},
    )
    sheet = dispatcher.get(answer.headers["location"]).text
    created = record_of(app, "job", "J-0013")
    expected = "in" if dt.date.fromisoformat(ends) >= dt.date.fromisoformat(created["reported_at"][:10]) else "out"
    assert created.get("warranty", "unknown") == expected and f"warranty {expected}" in sheet
    assert "EQ-001 already has an open job: SR-2026-0001 (J-0001)." in sheet


def test_a_clock_in_the_last_quarter_of_its_window_is_amber_before_it_is_red(dispatcher, client, tokens) -> None:
    reported = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=25)  # S1: respond within 30 min
    made = client.post(
        "/api/v1/jobs",
        headers=bearer(tokens["chen-jing"]),
        json={
            "customer_id": "C-01",
            "site_id": "S-01",
            "fault": "down",
            "severity": 1,
            "reported_at": reported.isoformat(),
        },
    ).json()
    assert (made["sla_state"], made["sla_target"]) == ("at_risk", "respond")
    row = dispatcher.get("/office/board").text.split(f'data-job="{made["id"]}"')[1].split("</tr>")[0]
    assert "sla-at_risk" in row and "at risk" in row and "overdue" not in row
    late = client.post(
        "/api/v1/jobs",
        headers=bearer(tokens["chen-jing"]),
        json={
            "customer_id": "C-01",
            "site_id": "S-01",
            "fault": "down",
            "severity": 1,
            "reported_at": (reported - dt.timedelta(minutes=10)).isoformat(),
        },
    ).json()
    assert late["sla_state"] == "overdue" and late["overdue"]
