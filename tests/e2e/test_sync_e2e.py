"""The engineer's day over real HTTP: a real server process and real field clients."""

from __future__ import annotations

import httpx
import pytest

from sync_protocol import Backup, Checkin, Note, PartSwap, ScopeViolation, UpgradeRequired
from sync_protocol import Test as PostRepairTest

from tests.support.live import Wire, approve_paid_work, office, office_patch

FAN = "FAN-80MM"


def van_qty(server, user: str, sku: str) -> int:
    return server.records("stock")[f"van:{user}|{sku}"]["qty"]


def test_first_sync_brings_the_scope_and_every_drawing_of_it(live_server, laptop) -> None:
    li = laptop("li-wei")
    report = li.sync()

    assert report.ok and report.pulled > 0
    assert {j.id for j in li.jobs()} == {"J-0001", "J-0002", "J-0003"}
    for drawing in li.records("drawing"):
        path = li.blob_path(drawing.sha256)
        assert path is not None and path.stat().st_size == drawing.size
    assert {s.location for s in li.van_stock()} == {"van:u-li-wei"}


def test_a_push_whose_answer_is_lost_is_retried_and_applied_once(live_server, laptop) -> None:
    lost = {"done": False}

    def lose_first_push_answer(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path == "/sync/v1/push" and not lost["done"]:
            lost["done"] = True
            response.close()
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    wire = Wire(lose_first_push_answer)
    li = laptop("li-wei", http=wire)
    li.sync()
    before = van_qty(live_server, "u-li-wei", FAN)
    job = li.job("J-0003")
    li.record_event("J-0003", Checkin(note="plant room B2"))
    li.record_event("J-0003", Backup(scope="config", method="export", stored_at="USB", sha256="b" * 64, verified=True))
    approve_paid_work(li, "J-0003", FAN)
    swap = li.record_event(
        "J-0003", PartSwap(equipment_id=job.equipment_ids[0], sku=FAN, serial_out="FAN-OLD-1", serial_in="FAN-NEW-1")
    )
    report = li.sync()

    # Sent three times: the retry names the mark the lost answer moved the server past, so it is
    # refused (hello_required, nothing applied); after hello the batch gets its stored answers.
    assert lost["done"] and len(wire.calls("POST", "/sync/v1/push")) == 3
    assert report.applied == 5 and report.rejected == 0
    events = [e for e in live_server.records("event").values() if e["job_id"] == "J-0003"]
    assert sorted(e["payload"]["kind"] for e in events) == [
        "backup",
        "checkin",
        "customer_approval",
        "part_swap",
        "quote",
    ]
    assert van_qty(live_server, "u-li-wei", FAN) == before - 1
    assert li.pending() == []
    assert [a["status"] for a in li.answers()] == ["applied"] * 5
    assert swap.id in live_server.records("event")


def test_an_unsupported_protocol_version_asks_for_an_upgrade(live_server, laptop, laptops_speak) -> None:
    li = laptop("li-wei")
    li.sync()
    li.record_event("J-0001", Note(text="kept while the client is too old"))
    laptops_speak(2)

    with pytest.raises(UpgradeRequired) as refused:
        li.sync()

    assert refused.value.status == 426 and "upgrade" in refused.value.message
    assert len(li.pending()) == 1  # nothing lost, nothing sent


def test_an_engineer_is_confined_to_their_own_jobs(live_server, laptop) -> None:
    li, zhang = laptop("li-wei"), laptop("zhang-min")
    li.sync(), zhang.sync()
    theirs = {j.id for j in zhang.jobs()}
    assert theirs and not theirs & {j.id for j in li.jobs()}

    # A drawing of a site only zhang-min works at: li-wei may not download it.
    li_sites = {j.site_id for j in li.jobs()}
    foreign = [d for d in zhang.records("drawing") if d.site_id not in li_sites]
    assert foreign
    transport = li.transport()
    with pytest.raises(ScopeViolation) as refused:
        with transport.stream(f"/sync/v1/blobs/{foreign[0].sha256}"):
            pass
    transport.close()
    assert refused.value.status == 403 and refused.value.field == "sha256"


def test_work_on_another_engineers_job_is_refused_by_name(live_server, laptop) -> None:
    li, zhang = laptop("li-wei"), laptop("zhang-min")
    li.sync(), zhang.sync()
    other_job = zhang.jobs()[0].id
    # Forge the mutation as a modified client would: the server must refuse it.
    from field_client import outbox
    from sync_protocol import AppendEvent, JobEvent, uuid7
    import datetime as dt

    li.store.write(
        lambda c: outbox.append(
            c,
            lambda seq, hlc: AppendEvent(
                seq=seq,
                hlc=hlc,
                event=JobEvent(
                    id=uuid7(),
                    job_id=other_job,
                    hlc=hlc,
                    at=dt.datetime.now(dt.timezone.utc),
                    payload=Note(text="not my job"),
                ),
            ),
        )
    )
    report = li.sync()

    assert report.rejected == 1 and not report.ok
    answer = li.answers("rejected")[0]
    assert (answer["reason"], answer["field"]) == ("scope", "event.job_id")
    assert not [e for e in live_server.records("event").values() if e["job_id"] == other_job]


def test_a_reassigned_job_stays_while_it_holds_unsynced_work_then_leaves(live_server, laptop) -> None:
    from field_client import pulling
    from field_client import sync as sync_steps
    from field_client.report import SyncReport

    li = laptop("li-wei")
    li.sync()
    li.record_event("J-0002", Checkin(note="arrived; dispatcher does not know yet"))
    with office(live_server) as dispatcher:
        assert dispatcher.post("/api/v1/jobs/J-0002/assign", json={"assignee": "zhang-min"}).status_code == 200

    # A pull while the check-in is still in the outbox (e.g. the background sync): kept.
    transport = li.transport()
    hello = sync_steps.say_hello(li.store, transport)
    pulling.pull_scope(li.store, transport, hello, SyncReport())
    transport.close()
    assert "J-0002" in {j.id for j in li.jobs()}
    assert [v.event.payload.note for v in li.events("J-0002")] == ["arrived; dispatcher does not know yet"]

    report = li.sync()  # the work is pushed, kept by the server and flagged; then the job leaves

    assert report.conflicts == 1
    assert "J-0002" not in {j.id for j in li.jobs()}
    job = live_server.records("job")["J-0002"]
    assert job["assignee"] == "u-zhang-min" and "work_after_reassign" in job["flags"]
    assert any(c.kind == "job_state" and c.record_id == "J-0002" for c in li.conflicts())
    told = li.answers()[-1]["message"]
    assert told.startswith("job_state conflict:") and "SR-2026-0002" in told and "assigned to" in told


def test_a_field_edit_and_an_office_edit_of_the_same_site_merge_and_flag(live_server, laptop) -> None:
    li = laptop("li-wei")
    li.sync()
    site = li.record("site", li.job("J-0001").site_id)
    held_version = li.store.read(lambda c: __import__("field_client").view.version(c, "site", site.id))
    li.edit("site", site.id, contact_phone="+86 139 0000 0001", access_notes="badge at gate 2")

    status = office_patch(
        live_server, "site", site.id, held_version, contact_phone="+86 21 0000 0000", name="Renamed site"
    )
    assert status in ("applied", "merged")

    report = li.sync()

    assert report.conflicts == 1  # contact_phone changed on both sides
    stored = live_server.records("site")[site.id]
    assert stored["contact_phone"] == "+86 139 0000 0001"  # observed fact: the engineer's
    assert stored["name"] == "Renamed site"  # office field merged in
    assert stored["access_notes"] == "badge at gate 2"
    flagged = [c for c in li.conflicts() if c.record_id == site.id]
    assert flagged and flagged[0].other == "+86 21 0000 0000"
    assert li.record("site", site.id) == li.store.read(
        lambda c: __import__("field_client").replica.get(c, "site", site.id).record
    )


def test_a_revoked_laptop_is_refused_and_keeps_its_work(live_server, laptop) -> None:
    from sync_protocol import Unauthorized
    from tests.support.live import run_cli

    li = laptop("li-wei")
    li.sync()
    li.record_event("J-0001", PostRepairTest(result="pass"))
    device = li.status()["device_id"]
    run_cli("field-server", "device", "revoke", device, "--data", str(live_server.data_dir))

    with pytest.raises(Unauthorized):
        li.sync()
    assert len(li.pending()) == 1


def test_status_says_whether_the_server_answers(live_server, laptop) -> None:
    from tests.support.live import cli_json

    li = laptop("li-wei")
    li.sync()
    li.record_event("J-0001", Checkin())
    home = str(li.home)
    li.close()

    online = cli_json("field", "--home", home, "status")
    live_server.stop()
    offline = cli_json("field", "--home", home, "status")

    assert online["server_reachable"] is True and offline["server_reachable"] is False
    assert online["pending"] == offline["pending"] == 1 and online["last_sync_at"]
