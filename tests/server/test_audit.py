"""The audit log: every accepted change chained, and every kind of tampering named by row."""

from __future__ import annotations

import json

import pytest

from server import cli
from server.storage import audit
from sync_protocol import Checkin
from tests.support.databases import tamper

from .conftest import World


def _audit_rows(world: World) -> list[audit.Row]:
    return world.db.read(lambda c: list(audit.rows(c)))


def _verify(world: World) -> audit.Report:
    return world.db.read(audit.verify)


def _tamper(world: World, sql: str, *params: object) -> None:
    """Change the store the way an intruder would: a separate connection, triggers dropped."""
    tamper(world.data_dir, sql, *params, unguard=True)


@pytest.fixture
def busy(world: World) -> World:
    """A store with an engineer's push (event + its effect on the job) and an office patch."""
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    laptop.push(
        laptop.event("J-1", Checkin(note="arrived")),
        laptop.patch("site", "S-01", world.version("site", "S-01"), contact_phone="+86 21 1"),
    )
    office = world.device("u-chen-jing")
    office.push(office.patch("job", "J-3", world.version("job", "J-3"), fault="UPS beeping"))
    return world


def test_every_accepted_mutation_and_its_effects_are_chained(busy: World) -> None:
    rows = _audit_rows(busy)
    kinds = [(r.kind, r.entity, r.id, r.actor_user) for r in rows]
    assert ("push.event", "event", kinds[0][2], "u-li-wei") == kinds[0]
    assert ("push.effect", "job", "J-1", "u-li-wei") in kinds  # checkin: assigned -> on_site
    assert ("push.patch", "site", "S-01", "u-li-wei") in kinds
    assert ("push.patch", "job", "J-3", "u-chen-jing") in kinds
    assert [r.n for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == audit.GENESIS and all(
        a.hash == b.prev_hash for a, b in zip(rows, rows[1:], strict=False)
    )
    job_row = next(r for r in rows if r.entity == "job" and r.id == "J-1")
    assert job_row.version == busy.version("job", "J-1") and job_row.ref.startswith("seq 1")
    assert _verify(busy).ok


def test_a_rejected_mutation_leaves_no_row(world: World) -> None:
    laptop = world.device("u-li-wei")
    result = laptop.push(laptop.event("J-2", Checkin())).results[0]  # J-2 is not li-wei's job
    assert result.status == "rejected"
    assert _audit_rows(world) == []


def test_the_log_is_append_only_for_ordinary_sql(busy: World) -> None:
    # sqlite3.IntegrityError on SQLite, psycopg's RaiseException on PostgreSQL: the trigger's words
    with pytest.raises(Exception, match="append-only"):
        busy.db.write(lambda c: c.execute("UPDATE audit_log SET actor_user='someone' WHERE n=1"))
    with pytest.raises(Exception, match="append-only"):
        busy.db.write(lambda c: c.execute("DELETE FROM audit_log WHERE n=1"))


def test_a_row_changed_in_the_database_is_named(busy: World) -> None:
    _tamper(busy, "UPDATE audit_log SET actor_user='u-zhang-min' WHERE n=2")
    report = _verify(busy)
    assert not report.ok and report.first is not None
    assert report.first.n == 2 and "does not match its hash" in report.first.what


def test_a_row_changed_and_rehashed_breaks_the_next_link(busy: World) -> None:
    row = _audit_rows(busy)[1]
    forged = audit.chain_hash(
        row.prev_hash,
        audit.canonical_row(
            row.n,
            row.at,
            "u-zhang-min",
            row.actor_device,
            row.kind,
            row.entity,
            row.id,
            row.version,
            row.record_sha,
            row.ref,
        ),
    )
    _tamper(busy, "UPDATE audit_log SET actor_user='u-zhang-min', hash=? WHERE n=2", forged)
    first = _verify(busy).first
    assert first is not None and first.n == 3 and "prev_hash" in first.what


def test_a_deleted_row_is_named(busy: World) -> None:
    _tamper(busy, "DELETE FROM audit_log WHERE n=2")
    first = _verify(busy).first
    assert first is not None and first.n == 3 and "row 2 is missing" in first.what


def test_rows_cut_off_the_end_are_caught_by_the_head(busy: World) -> None:
    last = len(_audit_rows(busy))
    _tamper(busy, "DELETE FROM audit_log WHERE n=?", last)
    first = _verify(busy).first
    assert first is not None and first.n == last and "cut off" in first.what


def test_a_record_changed_behind_the_server_is_caught(busy: World) -> None:
    edit = (
        "json_set(data, '$.contact_phone', '+86 21 9')"
        if busy.db.dialect == "sqlite"
        else "jsonb_set(data::jsonb, '{contact_phone}', '\"+86 21 9\"')::text"
    )
    _tamper(busy, f"UPDATE records SET data={edit} WHERE entity='site' AND id='S-01'")
    report = _verify(busy)
    site_row = max(r.n for r in _audit_rows(busy) if r.entity == "site" and r.id == "S-01")
    assert report.first is not None and report.first.n == site_row
    assert "site S-01" in report.first.what and "record was changed" in report.first.what


def test_a_record_turned_into_a_tombstone_behind_the_server_is_caught(busy: World) -> None:
    _tamper(busy, "UPDATE records SET deleted=1 WHERE entity='job' AND id='J-3'")
    first = _verify(busy).first
    assert first is not None and "job J-3" in first.what


def test_records_changed_by_unaudited_paths_are_not_broken_links(busy: World) -> None:
    """Fixture loads and older servers wrote no rows: a newer version than audited is not tampering."""
    from server.storage import records as store
    from sync_protocol import Site

    busy.db.write(lambda c: store.put(c, Site(id="S-01", customer_id="C-01", name="renamed by import")))
    assert _verify(busy).ok


def test_cli_verify_exits_0_when_intact_and_1_naming_the_first_broken_link(busy: World, capsys) -> None:
    data = str(busy.data_dir)
    assert cli.main(["audit", "verify", "--data", data, "--json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["ok"] is True and ok["rows"] == len(_audit_rows(busy)) and ok["first_broken"] is None

    _tamper(busy, "UPDATE audit_log SET version=version+1 WHERE n=3")
    assert cli.main(["audit", "verify", "--data", data, "--json"]) == 1
    broken = json.loads(capsys.readouterr().out)
    assert broken["ok"] is False and broken["first_broken"]["row"] == 3

    assert cli.main(["audit", "verify", "--data", data]) == 1
    assert "first broken link: row 3" in capsys.readouterr().out


def test_an_assignment_through_the_api_is_chained_once(world: World) -> None:
    from sync_protocol import AssignRequest

    office = world.device("u-chen-jing")
    before = len(_audit_rows(world))
    response = office.post("/api/v1/jobs/J-3/assign", AssignRequest(assignee="li-wei"))
    assert response.status_code == 200, response.text
    rows = _audit_rows(world)[before:]
    assert [(r.kind, r.entity, r.id) for r in rows] == [("office.assign", "job", "J-3")]
    assert _verify(world).ok


def test_a_record_hashes_the_same_from_its_struct_as_from_its_stored_json(busy: World) -> None:
    """A push hashes the records it writes from memory (``record_sha_of``); ``verify`` hashes
    the stored JSON (``record_sha``): every kind of record in a busy store must agree."""
    from server.storage.records import decode_record

    stored = busy.db.read(lambda c: c.execute("SELECT entity, version, data FROM records").fetchall())
    assert {row[0] for row in stored} >= {"job", "event", "stock", "equipment"}
    for _, version, data in stored:
        assert audit.record_sha_of(decode_record(data), version, False) == audit.record_sha(data, version, False)
