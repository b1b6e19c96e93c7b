"""Issue 9, holes 1 and 6: a laptop's clock cannot be trusted, so stamps and times are bounded.

Hole 1: one push with a part swap dated 9999-12-31T23:00-12:00, stamped at the epoch, and a patch
stamped in the year 10889 broke the backup audit, its CSV, the job sheet, the conflict queue and
the laptop's ``field job`` for everyone, for good. Now the door refuses them (the protocol's time
window, ``sync_protocol.bounds``), and the exit renders what it cannot format as text.

Hole 6: a patch stamped far ahead won every later merge and dragged every clock with it. Now a
stamp beyond the drift bound is refused and never observed, and a laptop whose clock runs ahead
corrects itself from the server's clock.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import httpx
import pytest

from server.storage import records as store
from tests.support.databases import open_store
from sync_protocol import Conflict, JobEvent, Party, from_builtins, hlc
from sync_protocol.hlc import MAX_DRIFT_MS
from tests.support.live import run_cli

from .attackers import Attack, signed_in

FAR_FUTURE_AT = "9999-12-31T23:00:00-12:00"
MINUTE_MS = 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def swap(equipment: str = "EQ-001", sku: str = "PSU-750W") -> dict:
    tag = uuid.uuid4().hex[:10]
    return {
        "kind": "part_swap",
        "equipment_id": equipment,
        "sku": sku,
        "serial_out": f"OUT-{tag}",
        "serial_in": f"IN-{tag}",
        "no_backup_ack": True,
    }


def _stamps(kind: str) -> dict:
    ahead = hlc.encode(now_ms() + MAX_DRIFT_MS + 10 * MINUTE_MS, 0)
    return {
        "at in the year 10000": {"at": FAR_FUTURE_AT},
        "at before 2000": {"at": "1970-01-01T00:00:00Z"},
        "hlc at the epoch": {"hlc": "0000000000000001"},
        "hlc in the year 10889": {"hlc": "ffffffffffff0000"},
        "hlc past the drift bound": {"hlc": ahead},
    }[kind]


@pytest.mark.parametrize(
    "kind, field, reason",
    [
        ("at in the year 10000", "event.at", "invalid"),
        ("at before 2000", "event.at", "invalid"),
        ("hlc at the epoch", "hlc", "clock"),
        ("hlc in the year 10889", "hlc", "clock"),
        ("hlc past the drift bound", "hlc", "clock"),
    ],
)
def test_an_event_stamped_outside_the_window_is_refused_by_name(
    attack: Attack, kind: str, field: str, reason: str
) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    stock = attack.record("stock", "van:u-li-wei|PSU-750W")["qty"]
    mutation = li.event(job, swap(), **_stamps(kind))

    [answer] = li.push(mutation)

    assert (answer["status"], answer.get("reason"), answer.get("field")) == ("rejected", reason, field), answer
    assert answer["message"]
    assert not attack.has("event", mutation["event"]["id"])  # never stored
    assert attack.record("stock", "van:u-li-wei|PSU-750W")["qty"] == stock  # nor its effects


def test_an_event_whose_own_stamp_is_odd_is_refused_naming_it(attack: Attack) -> None:
    li = attack.device("li-wei")
    mutation = li.event(attack.new_job(), {"kind": "note", "text": "x"})
    mutation["event"]["hlc"] = "ffffffffffff0000"
    [answer] = li.push(mutation)
    assert (answer["status"], answer.get("reason"), answer.get("field")) == ("rejected", "clock", "event.hlc")


def test_the_push_of_hole_1_changes_nothing_and_every_page_still_works(attack: Attack) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    base = attack.version("site", "S-01")
    answers = li.push(
        li.event(job, swap(), at=FAR_FUTURE_AT, hlc="0000000000000001"),
        li.patch("site", "S-01", base, hlc="ffffffffffff0000", contact_name="Attacker"),
        li.patch("site", "S-01", base, contact_name="王工"),
    )
    assert [a["status"] for a in answers[:2]] == ["rejected", "rejected"]
    assert answers[2]["status"] in ("applied", "merged")
    assert attack.record("site", "S-01")["contact_name"] == "王工"
    assert_office_pages_work(attack, job)


def assert_office_pages_work(attack: Attack, job: str, expect: str = "") -> None:
    """The backup audit (page, CSV, API), the job sheet and the conflict queue all answer."""
    supervisor, dispatcher = signed_in(attack.server, "zhao-lei"), signed_in(attack.server, "chen-jing")
    audit = attack.device("zhao-lei").http
    try:
        for client, path in (
            (supervisor, "/office/audit"),
            (supervisor, "/office/audit/backups.csv"),
            (audit, "/api/v1/audit/backups"),
            (audit, "/api/v1/audit/backups.csv"),
            (dispatcher, f"/office/jobs/{job}"),
            (dispatcher, "/office/conflicts"),
            (dispatcher, "/office/conflicts?status=all"),
            (attack.office, f"/api/v1/jobs/{job}/sheet"),
            (attack.office, "/api/v1/conflicts?status=all"),
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            if expect and path.endswith(job):
                assert expect in answer.text, path
    finally:
        supervisor.close()
        dispatcher.close()


def test_odd_values_already_stored_are_shown_as_text_everywhere(attack: Attack, tmp_path) -> None:
    """A store written before the door was closed may hold them: pages, the CSV, the API and the
    laptop's ``field job`` show them as text instead of failing."""
    job = attack.new_job()
    odd = from_builtins(
        {
            "entity": "event",
            "id": f"odd-{uuid.uuid4().hex[:12]}",
            "job_id": job,
            "author": "u-li-wei",
            "hlc": "0000000000000001",
            "at": FAR_FUTURE_AT,
            "payload": swap(),
        }
    )
    assert isinstance(odd, JobEvent)
    conflict = Conflict(
        id=f"odd-{uuid.uuid4().hex[:12]}",
        kind="field",
        record_entity="site",
        record_id="S-01",
        field="contact_name",
        job_id=job,
        engineer="u-li-wei",
        kept="a",
        other="b",
        kept_by=Party(user="u-li-wei", side="field", hlc="ffffffffffff0000"),
        other_by=Party(user="u-chen-jing", side="office", hlc="ffffffffffff0001"),
        rule="planted",
        created_at=dt.datetime.fromisoformat(FAR_FUTURE_AT),
    )
    db = open_store(attack.server.data_dir)
    try:
        db.write(lambda c: [store.put(c, odd), store.put(c, conflict)])
    finally:
        db.close()

    assert_office_pages_work(attack, job, expect="9999-12-31")

    home = tmp_path / "laptop"
    run_cli(
        "field",
        "--home",
        str(home),
        "login",
        attack.server.url,
        "--token",
        attack.server.enrollment("li-wei", "engineer"),
    )
    synced = run_cli("field", "--home", str(home), "sync", check=False)  # 1: the shared store has conflicts
    assert synced.returncode in (0, 1) and "Traceback" not in synced.stderr, synced.stderr
    shown = run_cli("field", "--home", str(home), "job", job)
    assert "9999-12-31" in shown.stdout and "Traceback" not in shown.stderr
    assert "could not be shown as a time" in attack.server.log.read_text()  # and the server logged it


# --- hole 6: clocks ----------------------------------------------------------------------------


def test_a_patch_stamped_ahead_is_refused_never_observed_and_cannot_win(attack: Attack) -> None:
    li, other = attack.device("li-wei"), attack.device("wang-fang")
    job = attack.new_job(assignee="wang-fang", site="S-02")
    ahead = hlc.encode(now_ms() + 23 * 3600 * 1000, 0)  # "almost a day ahead"
    base = attack.version("site", "S-02")
    [forged] = li.push(li.patch("site", "S-02", base, hlc=ahead, contact_phone="forged"))
    assert (forged["status"], forged.get("reason"), forged.get("field")) == ("rejected", "clock", "hlc")

    hello = httpx.post(
        f"{attack.server.url}/sync/v1/hello",
        json={"protocol_version": 1},
        headers={"Authorization": f"Bearer {li.token}"},
    ).json()
    assert hello["server_hlc"] < ahead  # the server's clock did not move
    assert hlc.wall_ms(hello["server_hlc"]) <= now_ms() + MINUTE_MS
    [later] = other.push(other.patch("site", "S-02", base, contact_phone="+86 10 0000 0000"))
    assert later["status"] in ("applied", "merged") and job
    assert attack.record("site", "S-02")["contact_phone"] == "+86 10 0000 0000"


def test_a_stamp_a_little_ahead_within_the_bound_is_accepted(attack: Attack) -> None:
    li = attack.device("li-wei")
    stamp = hlc.encode(now_ms() + MAX_DRIFT_MS // 2, 0)
    [answer] = li.push(li.event(attack.new_job(), {"kind": "note", "text": "clock a bit fast"}, hlc=stamp))
    assert answer["status"] == "applied", answer


def test_a_laptop_whose_clock_runs_hours_ahead_corrects_itself_and_loses_nothing(
    attack: Attack, laptop, monkeypatch
) -> None:
    from field_client import clock as laptop_clock
    from sync_protocol import Checkin, Note

    job = attack.new_job()
    li = laptop("li-wei")
    li.sync()
    skew = 3 * 3600 * 1000
    real = laptop_clock.system_ms
    monkeypatch.setattr(laptop_clock, "system_ms", lambda: real() + skew)  # the CMOS clock is wrong

    first = li.record_event(job, Checkin(note="clock three hours fast"))  # recorded offline
    assert hlc.wall_ms(first.hlc) > now_ms() + MAX_DRIFT_MS  # the server would refuse it
    li.sign(job, signer="王建国", image=b"\x89PNG not really", role="site manager")
    report = li.sync()  # learns the server's time

    assert report.rejected == 0 and report.ok, report.problems
    stored = attack.record("event", first.id)
    assert hlc.wall_ms(stored["hlc"]) <= now_ms() + MAX_DRIFT_MS
    assert attack.record("job", job)["signature_state"] == "valid"  # re-bound to the re-stamped sheet
    later = li.record_event(job, Note(text="after the correction"))  # stamps in server time now
    assert abs(hlc.wall_ms(later.hlc) - now_ms()) < MAX_DRIFT_MS
    assert li.sync().rejected == 0
