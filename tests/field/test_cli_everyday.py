"""The ``field`` and ``field-server`` commands as an engineer and an operator meet them (issue 13).

Every command runs as a subprocess against a real server on the demo data. One laptop is
enrolled and synced once per module; each test works on its own copy of that laptop's store
(offline work needs no server), and tests that sync enroll a laptop of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.live import ROOT, LiveServer, cli_json, office, run_cli

JOB = "J-0001"


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, server_template: tuple[Path, dict[str, list[str]]]
) -> Iterator[tuple[LiveServer, Path]]:
    """A live server on a copy of the demo store, and Li Wei's laptop enrolled and synced."""
    template, tokens = server_template
    root = tmp_path_factory.mktemp("everyday")
    data = root / "server"
    shutil.copytree(template, data)
    (root / "tokens.json").write_text(json.dumps(tokens))
    with LiveServer(data) as server:
        home = root / "li-wei"
        run_cli("field", "--home", str(home), "login", server.url, "--token", server.enrollment("li-wei"))
        run_cli("field", "--home", str(home), "sync")
        yield server, home


@pytest.fixture
def home(synced: tuple[LiveServer, Path], tmp_path: Path) -> Path:
    """A copy of the synced laptop's store: this test's own laptop, offline."""
    copy = tmp_path / "laptop"
    shutil.copytree(synced[1], copy)
    return copy


def field(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_cli("field", "--home", str(home), *args, check=check)


def field_json(home: Path, *args: str) -> Any:
    return cli_json("field", "--home", str(home), *args)


# --- output ---------------------------------------------------------------------------------------


def test_every_command_shows_json_in_its_help() -> None:
    for command in ("jobs", "job", "sync", "swap", "parts", "van"):
        proc = run_cli("field", command, "--help")
        assert "--json" in proc.stdout and "--home" in proc.stdout, command


def test_field_server_json_before_the_command_prints_json(synced: tuple[LiveServer, Path]) -> None:
    data = str(synced[0].data_dir)
    before = json.loads(run_cli("field-server", "--json", "device", "list", "--data", data).stdout)
    after = json.loads(run_cli("field-server", "device", "list", "--data", data, "--json").stdout)
    assert before == after and any(d["user"] == "li-wei" for d in before)
    assert not run_cli("field-server", "device", "list", "--data", data).stdout.startswith("[")


def test_a_reader_that_stops_early_gets_no_traceback(home: Path) -> None:
    """``field job J-0001 | head``: the reader has gone before everything was written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now meets a closed pipe (EPIPE), deterministically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "field_client.cli", "--home", str(home), "job", JOB],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# --- the job list -----------------------------------------------------------------------------


def test_jobs_say_how_overdue_and_where_in_words(home: Path) -> None:
    lines = {line.split()[0]: line for line in field(home, "jobs").stdout.splitlines()[1:]}
    assert set(lines) == {"J-0001", "J-0002", "J-0003"}
    assert "on site overdue 2 d" in lines["J-0002"]  # due 2 d 20 h ago, on purpose
    assert "on site in " in lines["J-0001"]  # due 1 h 25 min after the session's load
    assert "浦东机房 Pudong Server Room" in lines["J-0001"]  # the site's name, not S-01
    assert "张江园区 Zhangjiang Campus" in lines["J-0003"]


def test_jobs_json_gives_deadlines_as_times_and_seconds(home: Path) -> None:
    jobs = {j["id"]: j for j in field_json(home, "jobs")}
    late, fresh = jobs["J-0002"]["deadline"], jobs["J-0001"]["deadline"]
    assert isinstance(late["left_s"], int) and late["left_s"] < -2 * 86400 and late["overdue"] is True
    assert 0 < fresh["left_s"] <= 85 * 60 and fresh["overdue"] is False
    assert fresh["at"] == jobs["J-0001"]["onsite_by"].replace("Z", "+00:00")
    assert jobs["J-0001"]["site_name"] == "浦东机房 Pudong Server Room"
    sheet = field_json(home, "job", JOB)
    assert sheet["deadline"]["left_s"] == pytest.approx(fresh["left_s"], abs=60)
    assert '"P' not in json.dumps([jobs, sheet["deadline"]])  # no ISO 8601 durations anywhere


# --- naming things ------------------------------------------------------------------------------


def test_a_job_is_named_by_its_office_number_or_its_id_in_any_case(home: Path) -> None:
    assert field(home, "job", "SR-2026-0001").stdout.startswith("SR-2026-0001 (J-0001)")
    assert field_json(home, "job", "j-0001")["job"] == field_json(home, "job", JOB)["job"]
    checkin = field_json(home, "checkin", "sr-2026-0001", "--note", "at reception")
    assert checkin["job_id"] == JOB
    assert [d["drawing"]["id"] for d in field_json(home, "drawings", "Sr-2026-0001")] == ["D-01", "D-02"]
    assert list(field_json(home, "warranty", "j-0001", "eq-001")) == ["EQ-001"]
    assert field_json(home, "status")["pending"] == 1


def test_a_typo_gets_the_nearest_job_or_sku(home: Path) -> None:
    typo = field(home, "job", "J-001", check=False)
    assert typo.returncode == 1 and "did you mean J-0001?" in typo.stderr
    typo = field(home, "quote", JOB, "--part", "PSU-750:1", check=False)
    assert typo.returncode == 1 and "did you mean PSU-750W?" in typo.stderr
    answer = json.loads(
        field(
            home,
            "--json",
            "swap",
            JOB,
            "--equipment",
            "EQ-001",
            "--part",
            "FAN-80M",
            "--serial-out",
            "a",
            "--serial-in",
            "b",
            check=False,
        ).stdout
    )
    assert answer["field"] == "part" and "did you mean FAN-80MM?" in answer["message"]
    assert field_json(home, "status")["pending"] == 0


# --- the catalog and the van --------------------------------------------------------------------


def test_parts_lists_and_searches_the_catalog_with_what_the_van_holds(home: Path) -> None:
    assert len(field_json(home, "parts")) == 60
    found = {p["id"]: p for p in field_json(home, "parts", "psu")}
    assert {"PSU-750W", "PSU-550W", "PSU-1100W"} <= set(found) and "FAN-80MM" not in found
    assert found["PSU-750W"]["van_qty"] == 2 and found["PSU-550W"]["van_qty"] == 0
    assert list(field_json(home, "parts", "硬盘")) and all(
        "硬盘" in p["name"] for p in field_json(home, "parts", "硬盘")
    )
    line = next(x for x in field(home, "parts", "PSU-750W").stdout.splitlines() if x.startswith("PSU-750W"))
    assert line.split()[:4] == ["PSU-750W", "2", "CNY", "890.00"] and "Power supply 750 W" in line
    nothing = field(home, "parts", "PSU-750X")
    assert "no part in the catalog matches" in nothing.stdout and "did you mean PSU-750W?" in nothing.stdout


def test_van_lists_the_vans_stock(home: Path) -> None:
    van = {s["sku"]: s for s in field_json(home, "van")}
    assert van["PSU-750W"]["qty"] == 2 and van["FAN-80MM"]["qty"] == 3
    assert van["PSU-750W"]["name"].startswith("Power supply 750 W")
    assert all(s["location"] == "van:u-li-wei" for s in van.values())
    lines = field(home, "van").stdout.splitlines()
    assert lines[0].split() == ["sku", "qty", "name"] and any(x.split()[:2] == ["FAN-80MM", "3"] for x in lines)


def test_swap_and_quote_take_parts_the_same_way(home: Path) -> None:
    quote = field_json(home, "quote", JOB, "--part", "psu-750w:3", "--labour", "300")
    assert "CNY 2,970.00" in quote["warning"]  # 3 x 890 + 300
    field(home, "approve", JOB, "--by", "王建国")
    swap = field_json(
        home,
        "swap",
        JOB,
        "--equipment",
        "EQ-001",
        "--part",
        "PSU-750W:3",
        "--serial-out",
        "PSU-DEAD-1",
        "--serial-in",
        "PSU-NEW-1",
        "--no-backup-ack",
    )
    assert "-1 x PSU-750W" in swap["warning"]  # the van held 2: taken anyway, flagged
    sheet = field_json(home, "job", JOB)
    [swapped] = [e["event"]["payload"] for e in sheet["events"] if e["event"]["payload"]["kind"] == "part_swap"]
    assert (swapped["sku"], swapped["qty"]) == ("PSU-750W", 3)
    van = next(x for x in field(home, "van").stdout.splitlines() if x.startswith("PSU-750W"))
    assert van.split()[:2] == ["PSU-750W", "-1"] and "more taken than the van held" in van
    assert field_json(home, "parts", "PSU-750W")[0]["van_qty"] == -1
    zero = field(
        home,
        "swap",
        JOB,
        "--equipment",
        "EQ-001",
        "--part",
        "PSU-750W:0",
        "--serial-out",
        "X",
        "--serial-in",
        "Y",
        "--no-backup-ack",
        check=False,
    )
    assert zero.returncode == 1 and "1 or more" in zero.stderr


# --- the customer's signature -------------------------------------------------------------------

SIGNATURE = ROOT / "fixtures" / "demo" / "signature.png"


def test_a_signature_made_outdated_says_in_words_what_changed(home: Path) -> None:
    field(home, "checkin", JOB)
    field(home, "sign", JOB, "--signer", "王建国", "--role", "site manager", "--image", str(SIGNATURE))
    assert "signature: valid (signed by 王建国 on " in field(home, "job", JOB).stdout
    late = field_json(home, "note", JOB, "forgot to mention the dusty filter")
    sheet = field(home, "job", JOB).stdout
    assert "SIGNS AN OLDER VERSION" in sheet
    assert "a note added by Li Wei (李伟) on " in sheet and '"forgot to mention the dusty filter"' in sheet
    assert late["event_id"] not in sheet


def test_signing_or_resolving_a_second_time_asks_for_again(home: Path) -> None:
    sign = ("sign", JOB, "--signer", "王建国", "--image", str(SIGNATURE))
    field(home, *sign)
    twice = json.loads(field(home, "--json", *sign, check=False).stdout)
    assert twice["field"] == "again" and "already signed by 王建国" in twice["message"]
    assert "has not changed since" in twice["message"]
    field(home, "resolve", JOB)
    again = field(home, "resolve", JOB, check=False)
    assert again.returncode == 1 and "already resolved" in again.stderr
    kinds = [e["event"]["payload"]["kind"] for e in field_json(home, "job", JOB)["events"]]
    assert kinds.count("signature") == 1 and kinds.count("resolution") == 1  # nothing recorded twice

    field(home, *sign, "--again")
    field(home, "resolve", JOB, "--again")
    kinds = [e["event"]["payload"]["kind"] for e in field_json(home, "job", JOB)["events"]]
    assert kinds.count("signature") == 2 and kinds.count("resolution") == 2


# --- refusals say what to type ------------------------------------------------------------------


def test_a_refusal_names_the_option_and_the_next_step(home: Path) -> None:
    swap = ("swap", JOB, "--equipment", "EQ-001", "--part", "PSU-750W", "--serial-out", "A", "--serial-in", "B")
    no_backup = field(home, *swap, check=False)
    assert no_backup.returncode == 1 and no_backup.stdout == ""
    assert "(--no-backup-ack)" in no_backup.stderr and "no_backup_ack" not in no_backup.stderr
    assert "next: `field backup J-0001 --scope system --file FILE --verified`" in no_backup.stderr

    unpaid = field(home, *swap, "--no-backup-ack", check=False)
    assert "next: `field quote J-0001 --part SKU:QTY" in unpaid.stderr and "(field: quote)" not in unpaid.stderr
    unknown = field(home, "checkin", "J-9999", check=False)
    assert "(JOB)" in unknown.stderr and "`field jobs` lists the jobs" in unknown.stderr
    assert "job_id" not in unknown.stderr
    wrong_part = field(home, *swap[:5], "NO-SUCH-SKU", *swap[6:], "--no-backup-ack", check=False)
    assert "(--part)" in wrong_part.stderr and "`field parts TEXT`" in wrong_part.stderr

    field(home, "resolve", JOB)
    twice = field(home, "resolve", JOB, check=False)
    assert "(--again)" in twice.stderr and "repeat the command with --again" in twice.stderr

    answer = json.loads(field(home, "--json", *swap, check=False).stdout)  # scripts get all of it
    assert (answer["field"], answer["option"]) == ("no_backup_ack", "--no-backup-ack")
    assert answer["next"].startswith("`field backup J-0001")


# --- drawings -----------------------------------------------------------------------------------


def test_drawings_are_files_with_their_real_name_and_extension(home: Path) -> None:
    import hashlib

    rows = field_json(home, "drawings", JOB)
    assert [Path(r["path"]).name for r in rows] == ["D-01-s-01-cable-routes.png", "D-02-s-01-network.pdf"]
    for row in rows:
        path = Path(row["path"])
        assert path.parent == home.resolve() / "drawings"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["drawing"]["sha256"]
    assert field(home, "open", "d-02", "--json").stdout.strip().endswith('D-02-s-01-network.pdf"}')
    assert "D-01-s-01-cable-routes.png" in field(home, "job", JOB).stdout


# --- sync ---------------------------------------------------------------------------------------


def test_sync_names_new_jobs_and_what_was_flagged_and_exits_1_for_a_person(
    live_server: LiveServer, tmp_path: Path
) -> None:
    home = tmp_path / "laptop"
    field(home, "login", live_server.url, "--token", live_server.enrollment("li-wei"))
    first = field(home, "sync")  # all three jobs are new to it
    assert "new jobs (3):" in first.stdout and "SR-2026-0001 (J-0001) severity 1, 浦东机房" in first.stdout
    assert "flagged for a person" not in first.stdout and first.returncode == 0

    field(home, "edit", "site", "S-01", "contact_phone=+86 138 0000 7781")  # seen on site, offline
    with office(live_server) as dispatcher:  # meanwhile, in the office
        assert dispatcher.post("/api/v1/jobs/J-0011/assign", json={"assignee": "li-wei"}).status_code == 200
        site = dispatcher.get("/api/v1/sites/S-01").json()
        edit = dispatcher.patch(
            "/api/v1/sites/S-01",
            json={"base_version": site["version"], "fields": {"contact_phone": "+86 21 6000 0000"}},
        )
        assert edit.status_code == 200, edit.text
    cli_json("field-server", "job", "run", "sla_watch", "--data", str(live_server.data_dir))  # J-0002 escalates

    back = field(home, "sync", check=False)
    assert back.returncode == 1, back.stdout + back.stderr  # a person must look at something
    assert "new jobs (1):" in back.stdout and "SR-2026-0011 (J-0011) severity 2" in back.stdout
    assert (
        "flagged for a person (1):" in back.stdout and "contact_phone was changed here and in the office" in back.stdout
    )
    assert "`field conflicts`" in back.stdout
    quiet = field_json(home, "sync")  # nothing new: done, exit 0
    assert quiet["new_jobs"] == [] and quiet["flagged"] == [] and quiet["open_conflicts"] == 1
    assert quiet["needs_person"] is False

    escalated = next(x for x in field(home, "jobs").stdout.splitlines() if x.startswith("J-0002"))
    assert "escalated" in escalated and "on site overdue 2 d" in escalated
