"""Kill campaign: the server and the laptops are killed (SIGKILL) while they sync; after restarts
nothing is lost, nothing is duplicated, every SQLite store is intact and the server's audit chain
verifies end to end.

On SQLite the deployment is one server process. On PostgreSQL it is two server processes over
one database behind a load balancer (``balancer.py``: each request to either process): the
server kill takes one of them, drawn at random, while the other goes on answering, so a push
cut short on one process is retried on the other (or on the first, restarted).

Each round both laptops record work and sync at once. One laptop is killed at a sign that its
sync is under way (the server committed its push, its outbox settled, a pulled page landed, or a
random instant inside the time a sync takes), and the server is killed at a sign that the other
laptop's sync is under way (its push committed, or a page of its pull landed). A kill *hits*
when its target was still running; the campaign goes on until enough kills hit, on a fast machine
and a slow one alike, within a bounded number of rounds, and prints how many hit.

Twenty kills in ``make test``; ``FIELDSYNC_KILLS=200 make soak`` runs the long campaign.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from field_client import FieldClient
from sync_protocol import Note

from tests.reliability.balancer import Balancer
from tests.support.databases import database_of, open_store
from server.process import Process
from tests.support.live import LiveServer, cli_json, read_only, start_cli

KILLS = int(os.environ.get("FIELDSYNC_KILLS", "20"))
LAPTOPS = {"li-wei": "J-0001", "zhang-min": "J-0004"}
NOTES_PER_ROUND = 15
PAGE_SIZE = 5  # several pages per pull: the pull is work long enough to interrupt
pytestmark = pytest.mark.slow


def integrity(path: Path) -> str:
    if database_of(path.parent) is not None:
        return "ok"  # PostgreSQL's integrity is its own; the checks of the store's content follow
    with read_only(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


class Deployment:
    """The servers the laptops sync with, at one address (``url``), and a look at their store."""

    def __init__(self, servers: list[LiveServer], url: str, store: Any) -> None:
        self.servers, self.url, self.store = servers, url, store

    def high_seq(self, device: str) -> int:
        rows = self.store.read(lambda tx: tx.execute("SELECT high_seq FROM devices WHERE id=?", (device,)).fetchall())
        return int(rows[0][0])


@contextlib.contextmanager
def deployment(live_server: LiveServer, backend: str) -> Iterator[Deployment]:
    """One server on SQLite; on PostgreSQL, a second process on the same database and a load
    balancer in front of both."""
    store = open_store(live_server.data_dir)
    try:
        if backend != "postgresql":
            yield Deployment([live_server], live_server.url, store)
            return
        with LiveServer(live_server.data_dir) as second:
            with Balancer([live_server.port, second.port], seed=KILLS) as balancer:
                yield Deployment([live_server, second], balancer.url, store)
    finally:
        store.close()


class Laptop:
    """One engineer's laptop as the campaign watches it from outside: its store on disk, its
    device on the server, and the signs that a ``field sync`` of it is under way."""

    def __init__(self, name: str, home: Path, where: Deployment) -> None:
        self.name, self.home, self.where = name, home, where
        with FieldClient(home) as laptop:
            laptop.login(where.url, where.servers[0].enrollment(name))
            laptop.sync()
            self.device = str(laptop.status()["device_id"])
        self.proc: Process | None = None

    def high_seq(self) -> int:
        return self.where.high_seq(self.device)

    def local(self) -> tuple[int, str | None]:
        """(outbox length, cursor) as committed on the laptop."""
        with read_only(self.home / "field.db") as conn:
            pending = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            row = conn.execute("SELECT value FROM meta WHERE key='cursor'").fetchone()
            return int(pending), row[0] if row else None

    def signs(self) -> dict[str, Callable[[], bool]]:
        """What shows, from outside, that the sync about to start has got somewhere."""
        high, (pending, cursor) = self.high_seq(), self.local()
        return {
            "push committed": lambda: self.high_seq() > high,
            "outbox settled": lambda: self.local()[0] < pending,
            "page landed": lambda: self.local()[1] != cursor,
        }

    def start_sync(self) -> None:
        self.proc = start_cli("field", "--home", str(self.home), "sync", "--page-size", str(PAGE_SIZE))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait(timeout=120)


def holds(sign: Callable[[], bool]) -> bool:
    try:
        return sign()
    except sqlite3.OperationalError:
        return False  # a store mid-checkpoint: look again


def sync_time(laptop: Laptop) -> float:
    """How long a whole ``field sync`` with a round's work takes on this machine, measured."""
    with FieldClient(laptop.home) as client:
        for n in range(NOTES_PER_ROUND):
            client.record_event(LAPTOPS[laptop.name], Note(text=f"{laptop.name} warm-up {n}"))
    start = time.monotonic()
    laptop.start_sync()
    laptop.wait()
    return time.monotonic() - start


# pyproject's 300 s per test guards against a hang; twenty kills of two PostgreSQL processes on a
# loaded worker of the suite took longer than that without hanging.
@pytest.mark.timeout(900)
def test_killing_server_and_laptops_mid_sync_loses_and_doubles_nothing(
    live_server: LiveServer, backend: str, tmp_path: Path
) -> None:
    with deployment(live_server, backend) as where:
        campaign(where, tmp_path)


def campaign(where: Deployment, tmp_path: Path) -> None:
    rng = random.Random(KILLS)
    laptops = [Laptop(name, tmp_path / name, where) for name in LAPTOPS]
    window = sync_time(laptops[0])
    recorded: set[str] = set()
    hits = {"server": 0, "laptop": 0}
    kills = {"server": 0, "laptop": 0}
    killed_per_process = [0 for _ in where.servers]
    rounds = 0
    while hits["server"] < KILLS // 2 or hits["laptop"] < KILLS // 2:
        rounds += 1
        assert rounds <= 3 * KILLS, f"after {rounds - 1} rounds, kills that hit a running sync: {hits}"
        for laptop in laptops:
            with FieldClient(laptop.home) as client:
                for n in range(NOTES_PER_ROUND):
                    recorded.add(client.record_event(LAPTOPS[laptop.name], Note(text=f"{laptop.name} {rounds}/{n}")).id)
        victim, other = rng.sample(laptops, 2)
        mode = rng.choice(["push committed", "outbox settled", "page landed", "random instant"])
        victim_signs, other_signs = victim.signs(), other.signs()
        victim_ready = victim_signs.get(mode, lambda: False)
        victim_deadline = time.monotonic() + (rng.uniform(0.2, 1.0) * window if mode == "random instant" else 60)
        server_ready = other_signs[rng.choice(["push committed", "page landed"])]
        server_deadline = time.monotonic() + 60

        for laptop in laptops:
            laptop.start_sync()
        victim_done = server_done = False
        while not (victim_done and server_done):
            if not victim_done and (not victim.running() or holds(victim_ready) or time.monotonic() > victim_deadline):
                hits["laptop"] += victim.running()
                kills["laptop"] += 1
                assert victim.proc is not None
                victim.proc.kill()
                victim_done = True
            if not server_done and (not other.running() or holds(server_ready) or time.monotonic() > server_deadline):
                hits["server"] += other.running()
                kills["server"] += 1
                target = rng.randrange(len(where.servers))
                killed_per_process[target] += 1
                where.servers[target].kill()
                where.servers[target].start()  # the other laptop's retries meet a live server
                server_done = True
            time.sleep(0.001)
        for laptop in laptops:
            laptop.wait()

    print(
        f"{rounds} rounds; kills that hit a running sync: server {hits['server']} of {kills['server']},"
        f" laptop {hits['laptop']} of {kills['laptop']}; server kills per process {killed_per_process}"
    )

    for laptop in laptops:
        with FieldClient(laptop.home) as client:
            report = client.sync()
            assert report.ok and client.pending() == [], (laptop.name, report.problems)
            answers = client.answers()
            assert {a["status"] for a in answers} <= {"applied", "merged", "conflict"}
            assert [a["seq"] for a in answers] == list(range(1, len(answers) + 1))
            assert laptop.high_seq() == len(answers)  # every mutation applied once, none twice

    rows = where.store.read(
        lambda tx: tx.execute(
            "SELECT id, json_extract(data, '$.payload.text') FROM records WHERE entity='event' "
            "AND json_extract(data, '$.payload.kind')='note'"
        ).fetchall()
    )
    notes = [i for i, text in rows if "warm-up" not in text]
    assert sorted(notes) == sorted(recorded)  # none lost, none twice
    data = where.servers[0].data_dir
    for server in where.servers:
        server.stop()
    if (data / "fieldsync.db").exists():
        assert integrity(data / "fieldsync.db") == "ok"
    chain = cli_json("field-server", "audit", "verify", "--data", str(data))
    assert chain["ok"] is True and chain["rows"] >= len(recorded), chain
    for laptop in laptops:
        assert integrity(laptop.home / "field.db") == "ok"
