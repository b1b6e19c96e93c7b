"""Answers leave the outbox atomically; server removals never drop records pending work needs."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from field_client import FieldClient, outbox, replica
from field_client.sync import settle_reply
from .laptop_helpers import META, answer_rows, outbox_rows, seed
from sync_protocol import (
    MSGPACK,
    AppendEvent,
    Checkin,
    EnrollReply,
    MutationResult,
    Note,
    PatchRecord,
    PushReply,
    encode,
)

JOB = "J-0001"  # S-01 / C-01
IDLE_JOB = "J-0003"  # S-02, no pending work in these tests unless recorded


def record_three(client: FieldClient) -> list[str]:
    return [
        client.record_event(JOB, Checkin(note="in")).id,
        client.record_event(JOB, Note(text="found it")).id,
        client.record_event(JOB, Note(text="fixed it")).id,
    ]


def settle(client: FieldClient, results: list[MutationResult]) -> None:
    client.store.write(lambda c: outbox.settle(c, results))


def kept_flag(client: FieldClient, entity: str, record_id: str) -> bool | None:
    held = client.store.read(lambda c: replica.get(c, entity, record_id))
    return None if held is None else held.kept


APPLIED_1 = MutationResult(seq=1, status="applied", version=1)
REJECTED_2 = MutationResult(
    seq=2, status="rejected", reason="scope", field="job_id", message="job J-0001 was reassigned"
)


# --- settle ---------------------------------------------------------------------------------------


def test_settle_moves_answered_rows_to_answers(laptop: FieldClient) -> None:
    ids = record_three(laptop)
    settle(laptop, [APPLIED_1, REJECTED_2])

    assert [r["seq"] for r in outbox_rows(laptop)] == [3]
    assert [m.event.id for m in laptop.pending()] == [ids[2]]  # type: ignore[union-attr]
    answers = laptop.answers()
    assert [(a["seq"], a["status"], a["record_id"], a["job_id"], a["op"]) for a in answers] == [
        (1, "applied", ids[0], JOB, "event"),
        (2, "rejected", ids[1], JOB, "event"),
    ]
    assert answers[0]["version"] == 1
    assert (answers[1]["reason"], answers[1]["field"], answers[1]["message"]) == (
        "scope",
        "job_id",
        "job J-0001 was reassigned",
    )
    assert [a["seq"] for a in laptop.answers("rejected")] == [2]
    status = laptop.status()
    assert (status["pending"], status["rejected"]) == (1, 1)


def test_settle_is_one_transaction(laptop: FieldClient) -> None:
    record_three(laptop)
    before = outbox_rows(laptop)

    class Boom(Exception):
        pass

    def settle_then_fail(conn) -> None:  # type: ignore[no-untyped-def]
        outbox.settle(conn, [APPLIED_1, REJECTED_2])
        raise Boom

    with pytest.raises(Boom):
        laptop.store.write(settle_then_fail)
    assert outbox_rows(laptop) == before
    assert answer_rows(laptop) == []


def test_settling_the_same_results_twice_is_harmless(laptop: FieldClient) -> None:
    record_three(laptop)
    settle(laptop, [APPLIED_1, REJECTED_2])
    first = answer_rows(laptop)
    settle(laptop, [APPLIED_1, REJECTED_2])  # a replayed reply
    assert answer_rows(laptop) == first
    assert [r["seq"] for r in outbox_rows(laptop)] == [3]
    # A later answer with the same seq cannot overwrite the first one either.
    settle(laptop, [MutationResult(seq=1, status="rejected", reason="late")])
    assert answer_rows(laptop) == first


def test_an_answer_for_an_unknown_seq_is_ignored(laptop: FieldClient) -> None:
    record_three(laptop)
    settle(laptop, [MutationResult(seq=99, status="applied")])
    assert answer_rows(laptop) == []
    assert len(outbox_rows(laptop)) == 3


def test_a_rejected_answer_keeps_the_mutation_body(laptop: FieldClient) -> None:
    record_three(laptop)
    patch = laptop.edit("site", "S-01", contact_phone="+86 1")
    pending = {m.seq: m for m in laptop.pending()}
    settle(
        laptop,
        [
            APPLIED_1,
            REJECTED_2,
            MutationResult(seq=patch.seq, status="rejected", reason="invalid", field="contact_phone"),
        ],
    )

    rows = {r["seq"]: r for r in answer_rows(laptop)}
    assert rows[1]["body"] is None  # applied: the server holds it now
    kept = msgspec.msgpack.decode(rows[2]["body"], type=AppendEvent)
    assert kept == pending[2]
    kept_patch = msgspec.msgpack.decode(rows[patch.seq]["body"], type=PatchRecord)
    assert kept_patch == patch
    assert (rows[patch.seq]["op"], rows[patch.seq]["entity"], rows[patch.seq]["record_id"]) == ("patch", "site", "S-01")


def test_conflict_answers_record_their_conflict_ids(laptop: FieldClient) -> None:
    patch = laptop.edit("site", "S-01", contact_phone="+86 2")
    settle(laptop, [MutationResult(seq=patch.seq, status="conflict", version=9, conflicts=["CF-1", "CF-2"])])
    [answer] = laptop.answers()
    assert answer["status"] == "conflict" and json.loads(answer["conflicts"]) == ["CF-1", "CF-2"]
    # Once answered, the edit is no longer overlaid: the view is the server's record again.
    assert laptop.record("site", "S-01").contact_phone == "+86 138 0210 1001"  # type: ignore[attr-defined]


def test_settled_events_leave_the_pending_view(laptop: FieldClient) -> None:
    ids = record_three(laptop)
    settle(laptop, [APPLIED_1])
    assert [v.event.id for v in laptop.events(JOB)] == ids[1:]


def test_seq_numbering_continues_after_settle(laptop: FieldClient) -> None:
    record_three(laptop)
    settle(laptop, [APPLIED_1, REJECTED_2, MutationResult(seq=3, status="applied")])
    assert outbox_rows(laptop) == []
    laptop.record_event(JOB, Checkin())
    assert [r["seq"] for r in outbox_rows(laptop)] == [4]


# --- kept records -----------------------------------------------------------------------------------


def test_removing_a_job_with_pending_work_keeps_it(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())

    def remove(conn):  # type: ignore[no-untyped-def]
        needed = replica.needed_by_outbox(conn)
        return (
            replica.remove(conn, "job", JOB, needed),
            replica.remove(conn, "site", "S-01", needed),
            replica.remove(conn, "job", IDLE_JOB, needed),
        )

    assert laptop.store.write(remove) == (False, False, True)
    assert kept_flag(laptop, "job", JOB) is True
    assert kept_flag(laptop, "site", "S-01") is True
    assert kept_flag(laptop, "job", IDLE_JOB) is None
    # The engineer still sees the job they have work on.
    assert laptop.job(JOB).id == JOB
    assert JOB in {j.id for j in laptop.jobs()}


def test_needed_by_outbox_covers_the_jobs_world(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    laptop.edit("site", "S-02", contact_name="Wang")
    needed = laptop.store.read(replica.needed_by_outbox)
    assert {
        ("job", JOB),
        ("site", "S-01"),
        ("customer", "C-01"),
        ("equipment", "EQ-001"),
        ("equipment", "EQ-007"),
        ("site", "S-02"),
    } <= needed
    assert any(entity == "drawing" for entity, _ in needed)
    assert ("job", IDLE_JOB) not in needed
    assert ("equipment", "EQ-009") not in needed  # S-02's equipment: only the site is patched


def test_release_kept_drops_a_kept_job_after_settle(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    laptop.store.write(lambda c: replica.remove(c, "job", JOB, replica.needed_by_outbox(c)))
    assert kept_flag(laptop, "job", JOB) is True

    # Still pending: nothing is released.
    assert laptop.store.write(replica.release_kept) == 0
    assert kept_flag(laptop, "job", JOB) is True

    settle(laptop, [APPLIED_1])
    assert laptop.store.write(replica.release_kept) == 1
    assert kept_flag(laptop, "job", JOB) is None
    assert kept_flag(laptop, "site", "S-01") is False  # never removed: untouched


def test_a_push_reply_settles_and_releases_in_one_step(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    laptop.record_event(JOB, Note(text="two"))
    laptop.store.write(
        lambda c: [
            replica.remove(c, "job", JOB, replica.needed_by_outbox(c)),
            replica.remove(c, "site", "S-01", replica.needed_by_outbox(c)),
        ]
    )
    reply = PushReply(results=[APPLIED_1], high_seq=1, server_hlc="0000000000010000")
    laptop.store.write(lambda c: settle_reply(c, reply))
    assert kept_flag(laptop, "job", JOB) is True  # seq 2 still needs it

    reply = PushReply(results=[MutationResult(seq=2, status="applied")], high_seq=2, server_hlc="0000000000010000")
    laptop.store.write(lambda c: settle_reply(c, reply))
    assert kept_flag(laptop, "job", JOB) is None
    assert kept_flag(laptop, "site", "S-01") is None
    assert [a["seq"] for a in laptop.answers()] == [1, 2]


def test_a_pull_after_a_removal_unkeeps_the_record(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    laptop.store.write(lambda c: replica.remove(c, "job", JOB, replica.needed_by_outbox(c)))
    job = laptop.job(JOB)
    laptop.store.write(lambda c: replica.put(c, job, 12))  # back in scope
    assert kept_flag(laptop, "job", JOB) is False
    settle(laptop, [APPLIED_1])
    assert laptop.store.write(replica.release_kept) == 0
    assert kept_flag(laptop, "job", JOB) is False


def test_a_cursor_reset_keeps_only_what_pending_work_needs(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    laptop.store.write(replica.drop_for_reset)
    remaining = laptop.store.read(
        lambda c: {(r[0], r[1]): bool(r[2]) for r in c.execute("SELECT entity, id, kept FROM records")}
    )
    assert ("job", JOB) in remaining and ("customer", "C-01") in remaining
    assert ("job", IDLE_JOB) not in remaining and ("part", "PSU-750W") not in remaining
    assert all(remaining.values())
    settle(laptop, [APPLIED_1])
    laptop.store.write(replica.release_kept)
    assert laptop.store.read(replica.count) == 0


# --- answers across a re-enrollment -------------------------------------------------------------------


def test_a_rejected_answer_survives_re_enrollment(laptop: FieldClient) -> None:
    """login() renumbers pending work from seq 1 for the new device: the new device's answer for
    seq 1 must not replace the old device's refused answer (and its kept body)."""
    refused = laptop.record_event(JOB, Note(text="recorded on site, refused by the server"))
    settle(laptop, [MutationResult(seq=1, status="rejected", reason="scope", field="job_id")])
    home = laptop.home
    laptop.close()

    reply = EnrollReply(
        device_id="dev-replacement", device_token="fs_d_new", user_id="u-li-wei", user_name="Li Wei", role="engineer"
    )
    mock = httpx.MockTransport(
        lambda request: httpx.Response(200, content=encode(reply), headers={"Content-Type": MSGPACK})
    )
    with FieldClient(home, http=mock, retries=0) as client:
        client.login("http://field.test", "fs_e_again")
        seed(client, {**META, "device_id": "dev-replacement"})  # the pull after login
        client.record_event(JOB, Checkin(note="next visit"))
        # The new device's seqs start again at 1 (login renumbers); answer whatever was sent.
        settle(client, [MutationResult(seq=m.seq, status="applied") for m in client.pending()])
        assert outbox_rows(client) == []

        bodies = [r["body"] for r in answer_rows(client) if r["status"] == "rejected"]
        kept = [msgspec.msgpack.decode(b, type=AppendEvent).event.id for b in bodies if b]
        assert kept == [refused.id]
