"""Incremental sync on a laptop that holds the whole pull data set (N part swaps + its world).

- **incremental pull**: a dispatcher changes 100 equipment records of the engineer's sites
  (``firmware``, pushed as patches from the dispatcher's own device over HTTP; not timed),
  then the laptop's ``FieldClient.sync()`` is timed. It must pull exactly those 100.
- **incremental push**: 100 part swaps are recorded into the outbox (``outbox.append``, what
  ``FieldClient.record_event`` ends in; not timed), then ``FieldClient.sync()`` is timed: the 100
  go up, are answered and settled, and the page in the push answer brings back what the server
  changed (the van stock; docs/protocol.md, a pull in the push answer). It names the mark of
  the last push answer instead of saying hello (push without hello). Same-run baselines: each
  round also pushes 100 with that mark forgotten, so the sync says hello first as it did before
  (``incremental_push_hello_ms``), and 100 with the pull in a request of its own after the push
  (``field_client.sync.PULL_IN_PUSH`` off: ``incremental_push_apart_ms``).

Each is repeated ``2 x runs`` (at least 3) times; the median is reported. The no-op figure
(``bench.noop``) runs afterwards on the same laptop, and a bare HTTP round trip to the same
server is measured as the baseline. ``bench.run`` measures all this on the last pull run's
laptop right after its first pull (``after_pull``); ``run`` does it stand-alone. Also reported:
``record_swap_ms``, one real ``FieldClient.record_event`` of a part swap on this laptop (its checks
read held events).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import httpx
import msgspec

from field_client import FieldClient, outbox
from field_client import sync as laptop_sync
from field_client.store import set_meta
from sync_protocol import MSGPACK, PartSwap, PatchRecord, PushReply, PushRequest, sync_path
from sync_protocol.hlc import Clock

from . import noop
from .database import rows
from .common import CountingTransport, ServerProcess, Settings, median, rtt_baseline, say
from .datasets import World, copy_server, record_events_fast
from .pull import make_template
from .push import world_spec


class Dispatcher:
    """An office device speaking the protocol directly (MessagePack over httpx)."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        reply = httpx.post(
            server.url + sync_path("enroll"),
            json={"enrollment_token": token, "device_name": "bench office"},
            timeout=30,
        )
        reply.raise_for_status()
        self.http = httpx.Client(
            base_url=server.url,
            timeout=60,
            headers={
                "Authorization": f"Bearer {reply.json()['device_token']}",
                "Content-Type": MSGPACK,
                "Accept": MSGPACK,
            },
        )
        self.data_dir = server.data_dir
        self.seq = 0
        self.clock = Clock()
        self.round = 0

    def change_equipment(self, ids: list[str]) -> None:
        versions = dict(
            rows(
                self.data_dir,
                f"SELECT id, version FROM records WHERE entity='equipment' AND id IN ({','.join('?' * len(ids))})",
                *ids,
            )
        )
        self.round += 1
        mutations = []
        for eid in ids:
            self.seq += 1
            mutations.append(
                PatchRecord(
                    seq=self.seq,
                    hlc=self.clock.tick(),
                    entity="equipment",
                    id=eid,
                    base_version=versions[eid],
                    fields={"firmware": f"2.{self.round}.{self.seq % 1000}"},
                )
            )
        body = msgspec.msgpack.encode(PushRequest(mutations=mutations))
        reply = msgspec.msgpack.decode(self.http.post(sync_path("push"), content=body).content, type=PushReply)
        bad = [r for r in reply.results if r.status not in ("applied", "merged")]
        if bad:
            raise RuntimeError(f"dispatcher edit refused: {bad[:2]}")

    def close(self) -> None:
        self.http.close()


def _record_swaps(client: FieldClient, world: World, count: int, start: int) -> None:
    for i in range(start, start + count):
        job = world.jobs[(i * 7) % len(world.jobs)]
        client.record_event(
            job,
            PartSwap(
                equipment_id=world.job_equipment[job],
                sku=world.skus[i % min(50, len(world.skus))],
                serial_out=f"INC-OUT-{i:06d}",
                serial_in=f"INC-IN-{i:06d}",
                notes="incremental bench swap",
            ),
        )


def measure(
    settings: Settings,
    server: ServerProcess,
    client: FieldClient,
    counter: CountingTransport,
    world: World,
    office_token: str,
) -> dict[str, Any]:
    """The incremental and no-op figures on a laptop primed with the pull data set."""
    rounds = max(3, 2 * settings.runs)
    changed = 100
    say(f"incremental: laptop holding {world.records} records; {rounds} rounds of {changed} pulled / {changed} pushed")
    office = Dispatcher(server, office_token)
    try:
        # 100 equipment records spread over the engineer's sites (all are in scope).
        all_equipment = [f"EQ-{e:05d}" for e in range(world_spec(settings)["equipment"])]
        ids = all_equipment[:: max(1, len(all_equipment) // changed)][:changed]
        pulls, pull_req, pushes, push_req, hellos, hello_req = [], [], [], [], [], []
        apart, apart_req = [], []
        pull_bytes: dict[str, Any] | None = None
        push_bytes: dict[str, Any] | None = None
        for r in range(rounds):
            office.change_equipment(ids)
            counter.reset()
            t0 = time.perf_counter()
            report = client.sync()
            pulls.append((time.perf_counter() - t0) * 1000)
            pull_req.append(counter.requests)
            pull_bytes = pull_bytes or counter.snapshot()
            if report.pulled != changed or report.pushed:
                raise RuntimeError(f"incremental pull round {r}: pulled {report.pulled}, expected {changed}")

            record_events_fast(client, world, changed, start=3 * 10**6 + r * changed)
            client.store.write(lambda c: set_meta(c, outbox.MARK_KEY, None))  # hello first, as before
            counter.reset()
            t0 = time.perf_counter()
            report = client.sync()
            hellos.append((time.perf_counter() - t0) * 1000)
            hello_req.append(counter.requests)
            if report.applied != changed or not report.ok:
                raise RuntimeError(f"incremental push (hello) round {r}: applied {report.applied}")

            record_events_fast(client, world, changed, start=10**6 + r * changed)
            counter.reset()
            t0 = time.perf_counter()
            report = client.sync()
            pushes.append((time.perf_counter() - t0) * 1000)
            push_req.append(counter.requests)
            push_bytes = push_bytes or {**counter.snapshot(), "pulled_back": report.pulled}
            if report.applied != changed or not report.ok:
                raise RuntimeError(f"incremental push round {r}: applied {report.applied}: {report.problems[:2]}")

            # Baseline, the same round: the push, then the pull in a request of its own.
            record_events_fast(client, world, changed, start=4 * 10**6 + r * changed)
            laptop_sync.PULL_IN_PUSH = False
            try:
                counter.reset()
                t0 = time.perf_counter()
                report = client.sync()
                apart.append((time.perf_counter() - t0) * 1000)
                apart_req.append(counter.requests)
            finally:
                laptop_sync.PULL_IN_PUSH = True
            if report.applied != changed or not report.ok:
                raise RuntimeError(f"incremental push, pull apart, round {r}: applied {report.applied}")

        say(
            f"incremental: pull {median(pulls):.1f} ms, push {median(pushes):.1f} ms, "
            f"push with hello {median(hellos):.1f} ms, push then a pull apart {median(apart):.1f} ms (medians)"
        )
        # What the engineer waits for when recording one part swap on this laptop (the
        # client's checks read the job's and all held events): the real record_event.
        record_ms = []
        for i in range(3):
            t0 = time.perf_counter()
            _record_swaps(client, world, 1, 2 * 10**6 + i)
            record_ms.append((time.perf_counter() - t0) * 1000)
        result = noop.measure(client, counter, samples=max(10, 10 * settings.runs))
        say(f"no-op sync: {result['noop_sync_ms']:.2f} ms median, {result['noop_requests']} requests")
        rtt = rtt_baseline(server.url)
    finally:
        office.close()
    assert pull_bytes is not None and push_bytes is not None
    return {
        "incremental_pull_ms": median(pulls),
        "incremental_pull_samples_ms": pulls,
        "incremental_pull_requests": pull_req[0],
        "incremental_pull_bytes_up": pull_bytes["bytes_up"],
        "incremental_pull_bytes_down": pull_bytes["bytes_down"],
        "incremental_push_ms": median(pushes),
        "incremental_push_samples_ms": pushes,
        "incremental_push_requests": push_req[0],
        "incremental_push_bytes_up": push_bytes["bytes_up"],
        "incremental_push_bytes_down": push_bytes["bytes_down"],
        "incremental_push_pulled_back": push_bytes["pulled_back"],
        "incremental_push_apart_ms": median(apart),
        "incremental_push_apart_samples_ms": apart,
        "incremental_push_apart_requests": apart_req[0],
        "incremental_push_hello_ms": median(hellos),
        "incremental_push_hello_samples_ms": hellos,
        "incremental_push_hello_requests": hello_req[0],
        "record_swap_ms": median(record_ms),
        "laptop_records": world.records,
        "rtt_ms": rtt,
        **result,
    }


def after_pull(settings: Settings) -> Callable[[World, str], Any]:
    """For ``bench.pull.run(after=...)``: measure on the last pull run's primed laptop."""
    return lambda world, office_token: (
        lambda server, client, counter: measure(settings, server, client, counter, world, office_token)
    )


def run(settings: Settings, work: Path) -> dict[str, Any]:
    """Stand-alone: a pull template, one laptop primed, then ``measure``."""
    template = make_template(settings, work / "incr-template", devices=1)
    data = copy_server(template.data, work / "incr-run" / "server")
    with ServerProcess(data, durable=settings.durable) as server:
        counter = CountingTransport()
        client = FieldClient(work / "incr-run" / "laptop", http=counter, timeout=300)
        try:
            client.login(server.url, template.tokens[0])
            client.sync()
            return measure(settings, server, client, counter, template.world, template.office_token)
        finally:
            client.close()
