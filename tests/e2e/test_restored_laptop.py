"""A laptop restored from an old backup loses nothing (docs/protocol.md, "Renumbering").

The engineer's disk dies; IT restores last week's copy of the laptop's store. That copy holds
work that was pushed after the copy was made (the server answered it under seqs the copy still
has pending), and its next seq is one the server already used for later work. Work recorded
after the restore must not be mistaken for those answered mutations: the laptop learns from
hello's ``high_seq`` that the server is ahead, renumbers its outbox above it, and the server
recognises the re-sent events by their ids. A client that did not renumber would get the stored
answers of other mutations for its new work and drop it, silently.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from field_client import FieldClient
from sync_protocol import Note

from tests.support.live import LiveServer


def notes_on_server(server: LiveServer, job_id: str) -> list[str]:
    return sorted(
        e["payload"]["text"]
        for e in server.records("event").values()
        if e["job_id"] == job_id and e["payload"]["kind"] == "note"
    )


def high_seq(server: LiveServer, device_id: str) -> int:
    with server.db() as conn:
        return int(conn.execute("SELECT high_seq FROM devices WHERE id=?", (device_id,)).fetchone()[0])


def test_a_laptop_restored_from_an_old_backup_loses_nothing(tmp_path: Path, live_server: LiveServer) -> None:
    home, backup = tmp_path / "laptop", tmp_path / "backup"
    with FieldClient(home, retries=2, backoff=0.01) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
        li.sync()
        li.record_event("J-0001", Note(text="1 recorded before the backup, pushed after it"))
        li.edit("site", "S-01", contact_phone="+86 21 0000 0001")
        device_id = li.status()["device_id"]
    shutil.copytree(home, backup)  # last week's copy, taken with work pending

    with FieldClient(home, retries=2, backoff=0.01) as li:
        assert li.sync().rejected == 0  # pushes seq 1-2
        li.record_event("J-0001", Note(text="2 recorded and pushed after the backup"))
        li.edit("site", "S-01", contact_phone="+86 21 0000 0002")
        assert li.sync().rejected == 0  # pushes seq 3-4
    assert high_seq(live_server, device_id) == 4

    shutil.rmtree(home)  # the disk dies; the copy is restored
    shutil.copytree(backup, home)
    with FieldClient(home, retries=2, backoff=0.01) as li:
        assert [m.seq for m in li.pending()] == [1, 2]  # the copy still holds its pushed work
        li.record_event("J-0001", Note(text="3 recorded after the restore"))  # seq 3 again, locally
        li.edit("site", "S-01", contact_phone="+86 21 0000 0003")
        report = li.sync()

        assert report.rejected == 0 and li.pending() == []
        answers = li.answers()
        assert [a["seq"] for a in answers[-4:]] == [5, 6, 7, 8]  # renumbered above the server's 4
        assert answers[-4]["reason"] == "duplicate_event"  # the pushed event, recognised by id
        shown = sorted(
            e.event.payload.text
            for e in li.events("J-0001")  # type: ignore[union-attr]
            if e.event.payload.__struct_config__.tag == "note"
        )
        assert shown == notes_on_server(live_server, "J-0001")

    assert notes_on_server(live_server, "J-0001") == [
        "1 recorded before the backup, pushed after it",
        "2 recorded and pushed after the backup",
        "3 recorded after the restore",
    ]
    assert live_server.records("site")["S-01"]["contact_phone"] == "+86 21 0000 0003"
    assert high_seq(live_server, device_id) == 8
