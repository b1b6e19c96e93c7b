"""10,000 mutations from 5 laptops through a hostile network: every one lands exactly once.

The proxy drops connections before and after the server acts, truncates answers, delays, and
answers 503. The laptops only ever see errors and retries; the server must end up with each
event exactly once and each device's sequence complete.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from field_client import FieldClient, FieldClientError
from sync_protocol import Note, ProtocolError

from .proxy import FaultProxy

DEVICES = [
    ("li-wei", "J-0001"),
    ("li-wei", "J-0002"),
    ("zhang-min", "J-0004"),
    ("zhang-min", "J-0005"),
    ("wang-fang", "J-0008"),
]
ROUNDS, PER_ROUND = 20, 100  # 5 devices x 20 x 100 = 10,000 mutations
WEIGHTS = {"pass": 0.55, "delay": 0.1, "drop_before": 0.09, "drop_after": 0.09, "truncate": 0.09, "error": 0.08}
pytestmark = pytest.mark.slow


def sync_until_done(client: FieldClient) -> int:
    """What a laptop does in bad coverage: try again until the outbox is empty."""
    attempts = 0
    while True:
        attempts += 1
        assert attempts < 200, "the laptop never gets a whole sync through"
        try:
            report = client.sync(page_size=500)
        except (FieldClientError, ProtocolError):
            continue
        if report.ok and not client.pending():
            return attempts


def test_ten_thousand_mutations_through_a_faulty_network_land_exactly_once(live_server, tmp_path) -> None:
    recorded: dict[int, list[str]] = {}
    failures: list[BaseException] = []
    with FaultProxy(live_server.port, WEIGHTS, seed=5) as proxy:
        clients = []
        for n, (user, _job) in enumerate(DEVICES):
            client = FieldClient(tmp_path / f"laptop-{n}", retries=3, backoff=0.0, timeout=30)
            client.login(live_server.url, live_server.enrollment(user))  # enroll directly, then
            client.store.write(
                lambda c, p=proxy: c.execute(  # go through the bad network
                    "UPDATE meta SET value=? WHERE key='server_url'", (p.url,)
                )
            )
            sync_until_done(client)
            clients.append(client)

        def device(n: int) -> None:
            try:
                client, job = clients[n], DEVICES[n][1]
                recorded[n] = []
                for r in range(ROUNDS):
                    for k in range(PER_ROUND):
                        recorded[n].append(client.record_event(job, Note(text=f"device {n} round {r} #{k}")).id)
                    sync_until_done(client)
            except BaseException as exc:  # surfaced below
                failures.append(exc)

        threads = [threading.Thread(target=device, args=(n,)) for n in range(len(DEVICES))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fates = Counter(proxy.fates)
    for client in clients:
        client.close()

    assert not failures, failures
    # Every kind of fault really happened, many times: about 250 requests in all, since a
    # push's answer carries the pull page and a sync with work is then one request.
    assert all(fates[f] >= 10 for f in WEIGHTS), fates
    events = live_server.records("event")
    notes = [i for i, e in events.items() if e["payload"]["kind"] == "note"]
    assert len(notes) == 10_000 and set(notes) == {i for ids in recorded.values() for i in ids}
    with live_server.db() as conn:
        seqs = sorted(r[0] for r in conn.execute("SELECT high_seq FROM devices WHERE high_seq > 0"))
        applied = conn.execute("SELECT count(*) FROM applied").fetchone()[0]
    assert seqs == [ROUNDS * PER_ROUND] * len(DEVICES)
    assert applied == 10_000
