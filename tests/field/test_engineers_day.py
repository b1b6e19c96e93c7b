"""A whole severity-1 job through the real ``field`` CLI, offline, then one sync.

The server is stopped for the on-site part: every command must work with no network. Back in
coverage, the server's sheet must equal the laptop's, event for event.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.live import ROOT, run_cli, wait_until

JOB = "J-0001"
SIGNATURE = ROOT / "fixtures" / "demo" / "signature.png"


def field(home: Path, *args: str, ok: bool = True) -> dict:
    proc = run_cli("field", "--home", str(home), "--json", *args, check=False)
    if ok:
        assert proc.returncode == 0, f"field {' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return {
        "code": proc.returncode,
        **(
            json.loads(proc.stdout)
            if proc.stdout.strip().startswith("{")
            else {"out": json.loads(proc.stdout or "null")}
        ),
    }


def test_a_severity_one_job_offline_through_the_cli_then_one_sync(live_server, tmp_path) -> None:
    home = tmp_path / "laptop"
    field(home, "login", live_server.url, "--token", live_server.enrollment("li-wei"))
    field(home, "sync")
    assert field(home, "ready")["ready"] is True
    live_server.stop()  # the plant room: no network

    drawings = field(home, "drawings", JOB)["out"]
    assert drawings and all(Path(d["path"]).is_file() for d in drawings)
    opener = tmp_path / "viewer.sh"
    opened = tmp_path / "opened.txt"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    proc = run_cli(
        "field", "--home", str(home), "open", drawings[0]["drawing"]["id"], env={"FIELD_OPENER": str(opener)}
    )
    wait_until(opened.exists, 10)
    assert opened.read_text().strip() == drawings[0]["path"] == proc.stdout.strip()

    backup_file = tmp_path / "system-image.bin"
    backup_file.write_bytes(os.urandom(3 * 1024 * 1024))
    eq = field(home, "job", JOB)["job"]["equipment_ids"][0]
    assert field(home, "checkin", JOB, "--note", "met 刘洋 at reception")["kind"] == "checkin"

    refused = field(
        home, "swap", JOB, "--equipment", eq, "--part", "PSU-750W", "--serial-out", "A", "--serial-in", "B", ok=False
    )
    assert refused["code"] == 1 and refused["field"] == "no_backup_ack" and "backup first" in refused["message"]

    field(
        home,
        "backup",
        JOB,
        "--scope",
        "system",
        "--method",
        "OS image",
        "--stored-at",
        "USB-07",
        "--file",
        str(backup_file),
        "--verified",
    )
    field(home, "diagnose", JOB, "--cause", "hardware", "--findings", "PSU 1 dead", "--severity", "1")
    unpaid = field(
        home, "swap", JOB, "--equipment", eq, "--part", "PSU-750W", "--serial-out", "A", "--serial-in", "B", ok=False
    )
    assert unpaid["field"] == "quote" and "approve" in unpaid["message"]
    quote = field(home, "quote", JOB, "--part", "PSU-750W:1", "--labour", "300")
    assert "CNY 1,190.00" in quote["warning"]
    field(home, "approve", JOB, "--by", "王建国")
    swap = field(
        home,
        "swap",
        JOB,
        "--equipment",
        eq,
        "--part",
        "PSU-750W",
        "--serial-out",
        "PSU-DEAD-1",
        "--serial-in",
        "PSU-NEW-1",
    )
    assert swap["kind"] == "part_swap"
    field(home, "loaner", JOB, "--device", "spare R740 (2 h)")
    field(home, "loaner", JOB, "--device", "spare R740 (2 h)", "--returned")
    field(home, "test", JOB, "--result", "pass", "--notes", "both PSUs green")
    field(home, "edit", "site", "S-01", "access_notes=badge from 物业, gate 2")
    field(home, "sign", JOB, "--signer", "王建国", "--role", "site manager", "--image", str(SIGNATURE))
    field(home, "resolve", JOB)
    not_ready = field(home, "ready", ok=False)
    assert not_ready["code"] == 1 and any("not synced" in p for p in not_ready["problems"])
    assert field(home, "status")["server_reachable"] is False

    live_server.start()  # back in coverage
    report = field(home, "sync")
    assert report["ok"] and report["rejected"] == 0 and report["pushed"] == 12

    laptop_sheet = field(home, "job", JOB)
    server_events = {i: e for i, e in live_server.records("event").items() if e["job_id"] == JOB}
    laptop_events = {e["event"]["id"]: e["event"] for e in laptop_sheet["events"]}
    assert not any(e["pending"] for e in laptop_sheet["events"])
    assert laptop_events == server_events
    job = live_server.records("job")[JOB]
    assert job["status"] == "resolved" and job["signature_state"] == "valid"
    assert laptop_sheet["job"] == job
    backup = next(e for e in server_events.values() if e["payload"]["kind"] == "backup")
    assert backup["payload"]["size"] == 3 * 1024 * 1024 and backup["payload"]["verified"] is True
    assert live_server.records("site")["S-01"]["access_notes"] == "badge from 物业, gate 2"
    assert field(home, "ready")["ready"] is True


def test_unknown_things_are_named_and_nothing_is_written(live_server, tmp_path) -> None:
    home = tmp_path / "laptop"
    field(home, "login", live_server.url, "--token", live_server.enrollment("li-wei"))
    field(home, "sync")
    cases = [
        (("checkin", "J-9999"), "job_id"),
        (
            (
                "swap",
                "J-0001",
                "--equipment",
                "EQ-999",
                "--part",
                "PSU-750W",
                "--serial-out",
                "a",
                "--serial-in",
                "b",
                "--no-backup-ack",
            ),
            "equipment_id",
        ),
        (
            (
                "swap",
                "J-0001",
                "--equipment",
                "EQ-001",
                "--part",
                "NO-SUCH-SKU",
                "--serial-out",
                "a",
                "--serial-in",
                "b",
                "--no-backup-ack",
            ),
            "part",
        ),
        (("quote", "J-0001", "--part", "NO-SUCH-SKU"), "part"),
        (("approve", "J-0001", "--by", "nobody"), "quote"),
        (("edit", "site", "S-01", "name=New name"), "name"),
        (("backup", "J-0001", "--scope", "system", "--file", str(tmp_path / "missing.img")), "file"),
    ]
    for args, named in cases:
        answer = field(home, *args, ok=False)
        assert answer["code"] == 1 and answer["field"] == named, (args, answer)
    assert field(home, "status")["pending"] == 0


def test_a_bad_amount_is_a_usage_error(live_server, tmp_path) -> None:
    home = tmp_path / "laptop"
    field(home, "login", live_server.url, "--token", live_server.enrollment("li-wei"))
    field(home, "sync")
    for amount in ("12.345", "-3", "ten"):
        answer = field(home, "quote", JOB, "--part", "PSU-750W", "--labour", amount, ok=False)
        assert answer["code"] == 2 and answer["field"] == "labour", amount
    assert field(home, "status")["pending"] == 0
