"""What the supervisor's audit gives since issue 13: a CSV that Excel on a Chinese Windows reads
(byte order mark, local times to the second, absolute links), the backup's time, place and
method beside the repair, period presets, and a compliance target from config.toml in colour."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from server.office import audit_report
from tests.office.conftest import Laptop, bearer, sign_in

SWAP = {"kind": "part_swap", "equipment_id": "EQ-001", "sku": "PSU-750W", "serial_out": "A", "serial_in": "B"}
BACKUP = {
    "kind": "backup",
    "scope": "system",
    "method": "Veeam image",
    "stored_at": "NAS-01 /backups/r740",
    "sha256": "ab" * 32,
    "size": 10,
    "verified": True,
}


def _morning(li_wei: Laptop) -> dt.datetime:
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=123456)
    li_wei.event("J-0001", BACKUP, at=at - dt.timedelta(minutes=30))
    li_wei.event("J-0001", SWAP, at=at)
    return at


def test_the_csv_is_excel_ready_with_local_times_and_absolute_links(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    at = _morning(li_wei)
    answer = client.get("/api/v1/audit/backups.csv", headers=bearer(tokens["zhao-lei"]))
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8's byte order mark: Excel reads 李伟 as UTF-8
    [row] = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert row["first_repair_at"] == at.strftime("%Y-%m-%d %H:%M:%S") and row["time_zone"] == "UTC"
    assert row["backup_at"] == (at - dt.timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert (row["backup_stored_at"], row["backup_method"]) == ("NAS-01 /backups/r740", "Veeam image")
    assert row["sheet"] == "http://testserver.local/office/jobs/J-0001"


def test_a_finding_names_when_where_and_how_its_backup_was_made(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    at = _morning(li_wei)
    [finding] = client.get("/api/v1/audit/backups", headers=bearer(tokens["zhao-lei"])).json()["findings"]
    assert dt.datetime.fromisoformat(finding["backup_at"]) == at - dt.timedelta(minutes=30)
    assert finding["backup_method"] == "Veeam image" and finding["backup_stored_at"] == "NAS-01 /backups/r740"
    sign_in(client, tokens["zhao-lei"])
    row = (
        client.get("/office/audit", headers={"accept-language": "en"})
        .text.split('class="finding ')[1]
        .split("</tr>")[0]
    )
    made = row.split('class="backup-made"')[1]
    assert "Veeam image" in made and "NAS-01 /backups/r740" in made and re.search(r"\d{2}:\d{2} UTC", made)


def test_period_presets_pick_this_week_this_month_and_last_month(client: Any, tokens: dict[str, str]) -> None:
    assert audit_report.preset("this_month", dt.date(2026, 2, 10)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert audit_report.preset("last_month", dt.date(2026, 3, 31)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert audit_report.preset("this_week", dt.date(2026, 12, 6)) == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    sign_in(client, tokens["zhao-lei"])
    page = client.get("/office/audit?period=last_month").text
    start, end = audit_report.preset("last_month", dt.datetime.now(dt.timezone.utc).date())
    assert f'name="from" value="{start.isoformat()}"' in page and f'name="to" value="{end.isoformat()}"' in page
    assert re.search(r'class="preset active" data-period="last_month"', page)
    assert client.get("/office/audit?period=someday").status_code == 200  # refused in words, on the page
    assert "period: one of" in client.get("/office/audit?period=someday").text


def test_compliance_is_coloured_against_the_target_of_config_toml(
    client: Any, tokens: dict[str, str], li_wei: Laptop, data_dir: Path
) -> None:
    li_wei.event("J-0001", SWAP)  # no backup: li-wei at 0 %
    sign_in(client, tokens["zhao-lei"])
    page = client.get("/office/audit").text
    assert "95.0%" in page.split('id="compliance-target"')[1].split("</p>")[0]
    row = page.split('id="audit-summary"')[1].split("<td>Li Wei")[1].split("</tr>")[0]
    assert 'class="compliance target-missed"' in row and "below target" in row
    (data_dir / "config.toml").write_text("[audit]\ncompliance_target_pct = 0\n")
    row = client.get("/office/audit").text.split('id="audit-summary"')[1].split("<td>Li Wei")[1].split("</tr>")[0]
    assert 'class="compliance target-met"' in row


def test_the_csv_speaks_the_offices_time_zone(
    client: Any, tokens: dict[str, str], li_wei: Laptop, data_dir: Path
) -> None:
    at = _morning(li_wei)
    (data_dir / "config.toml").write_text('[office]\ntimezone = "Asia/Shanghai"\n')
    shanghai = (at + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    answer = client.get("/api/v1/audit/backups.csv", headers=bearer(tokens["zhao-lei"]))
    [row] = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert (row["first_repair_at"], row["time_zone"]) == (shanghai, "CST")
    sign_in(client, tokens["zhao-lei"])
    page_csv = client.get("/office/audit/backups.csv").content.decode("utf-8-sig")
    assert shanghai in page_csv
