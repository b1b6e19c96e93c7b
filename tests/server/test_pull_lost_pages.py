"""Pulls whose pages get lost, in any order with the office's changes, still end exact.

A page walked by version is taken as held by the device from the moment it is sent (it is sent
again from the acknowledged version if lost); a page with removes or records entering the scope
waits for the device's acknowledgement. Hypothesis interleaves office changes that move the scope
(new equipment, edits, deletions, jobs re-assigned) with a laptop pulling pages of any size,
prefetching, dying before it commits a page or after, and checks that once it pulls to the end it
holds exactly what a fresh laptop of the same engineer pulls, at the same versions.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.storage import records as store
from sync_protocol import ENTITY_TYPES, AssignRequest, Equipment, PullPage, PullRequest, Upsert, decode

from .conftest import World

_new_ids = itertools.count()
SITES = st.sampled_from(["S-01", "S-02"])
ENGINEERS = st.sampled_from(["u-li-wei", "u-zhang-min"])

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("cameras"), SITES, st.integers(1, 6)),
        st.tuples(st.just("edit"), st.integers(0, 30)),
        st.tuples(st.just("delete"), st.integers(0, 30)),
        st.tuples(st.just("assign"), st.sampled_from(["J-1", "J-2", "J-3"]), ENGINEERS),
        # a page of `limit`, then what becomes of it: committed, lost, or prefetched after
        st.tuples(st.just("pull"), st.integers(1, 7), st.sampled_from(["commit", "lose", "prefetch-die", "prefetch"])),
    ),
    max_size=14,
)


class Laptop:
    """What a laptop holds ((entity type, id) -> version) and the cursor it committed last."""

    def __init__(self, world: World) -> None:
        self.device = world.device("u-li-wei")
        self.held: dict[tuple[str, str], int] = {}
        self.cursor: str | None = None

    def page(self, cursor: str | None, limit: int, prefetch: bool = False) -> PullPage:
        request = PullRequest(cursor=cursor, limit=limit, prefetch=prefetch)
        response = self.device.post("/sync/v1/pull", request)
        assert response.status_code == 200, response.text
        return decode(response.content, PullPage)

    def commit(self, page: PullPage) -> None:
        for change in page.changes:
            if isinstance(change, Upsert):
                self.held[(type(change.record).__name__, change.record.id)] = change.version
            else:  # a remove of a record never held changes nothing
                self.held.pop((ENTITY_TYPES[change.entity].__name__, change.id), None)
        self.cursor = page.cursor

    def pull(self, limit: int, fate: str) -> None:
        first = self.page(self.cursor, limit)
        if fate == "lose":
            return
        if fate == "commit" or not first.more:
            self.commit(first)
            return
        second = self.page(first.cursor, limit, prefetch=True)  # asked for while committing `first`
        if fate == "prefetch-die":
            return  # died before `first` committed: it comes back with the cursor before it
        self.commit(first)
        if second.changes or second.cursor != first.cursor:  # not declined: commit it too
            self.commit(second)

    def pull_to_the_end(self) -> None:
        while True:
            page = self.page(self.cursor, 5)
            self.commit(page)
            if not page.more:
                return


def _equipment(world: World) -> list[str]:
    return world.db.read(
        lambda c: [r[0] for r in c.execute("SELECT id FROM records WHERE entity='equipment' AND deleted=0 ORDER BY id")]
    )


def _apply(world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "cameras":
        _, site, count = step
        cameras = [Equipment(id=f"EQ-L{next(_new_ids):04}", site_id=site, model="cam", serial="") for _ in range(count)]
        world.db.write(lambda c: store.put_many(c, cameras))
    elif kind in ("edit", "delete"):
        ids = _equipment(world)
        if not ids:
            return
        eid = ids[step[1] % len(ids)]

        def change(c: Any) -> None:
            stored = store.get(c, "equipment", eid)
            if kind == "delete":
                store.delete(c, "equipment", eid)
            else:
                store.put(c, Equipment(**{**_fields(stored.record), "model": f"m{next(_new_ids)}"}), stored)

        world.db.write(change)
    elif kind == "assign":
        _, job, engineer = step
        office = world.device("u-chen-jing")
        response = office.post(f"/api/v1/jobs/{job}/assign", AssignRequest(assignee=engineer))
        assert response.status_code in (200, 409, 422), response.text  # a closed job stays put


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_a_laptop_losing_pages_anywhere_ends_holding_exactly_its_scope(world: World, steps: list[Any]) -> None:
    laptop = Laptop(world)
    for step in steps:
        if step[0] == "pull":
            laptop.pull(step[1], step[2])
        else:
            _apply(world, step)
    laptop.pull_to_the_end()
    fresh = Laptop(world)
    fresh.pull_to_the_end()
    assert laptop.held == fresh.held
