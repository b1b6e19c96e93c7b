"""Three-way field merge: examples of each rule, and order independence (the key property).

``ServerStore`` below mimics exactly what ``server/push.py::apply_patch`` and
``server/storage/records.py::put`` do around ``merge_fields``: merge against the stored field versions,
then, if anything changed or was stamped, write the record under the next version of the
store-wide sequence, stamping each ``stamped`` field with the writer and that same version.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync_protocol.hlc import encode
from sync_protocol.merge import (
    FieldConflict,
    FieldVersion,
    Writer,
    merge_fields,
    owner,
    rank,
    serial_clash,
    stock_after,
)


class ServerStore:
    """One record, stored the way server/storage/records.py stores it."""

    def __init__(self, entity: str, record: dict[str, Any], version: int = 10) -> None:
        self.entity = entity
        self.seq = version  # meta.version: the store-wide sequence
        self.record = dict(record)
        self.version = version  # records.version
        self.fields: dict[str, FieldVersion] = {}  # records.fields
        self.conflicts: list[FieldConflict] = []

    def next_version(self) -> int:
        self.seq += 1
        return self.seq

    def patch(self, fields: dict[str, Any], base_version: int, writer: Writer):
        outcome = merge_fields(self.entity, dict(self.record), self.fields, self.version, fields, base_version, writer)
        if outcome.changes or outcome.stamped:
            self.version = self.next_version()  # store.put
            self.record = {**self.record, **outcome.changes}
            mine = FieldVersion(self.version, writer.hlc, writer.side, writer.device, writer.user)
            self.fields = {**self.fields, **{name: mine for name in outcome.stamped}}
        self.conflicts.extend(outcome.conflicts)
        return outcome


SITE = {
    "id": "site-1",
    "entity": "site",
    "customer_id": "cust-1",
    "name": "Depot",
    "address": "1 Road",
    "contact_phone": "111",
    "contact_name": "Ann",
    "access_notes": "",
}


def w(side: str, ms: int, device: str, counter: int = 0, user: str = "") -> Writer:
    return Writer(side, encode(ms, counter), device, user)  # type: ignore[arg-type]


# --- examples -------------------------------------------------------------------------------


def test_owner_table() -> None:
    assert owner("site", "contact_phone") == "field"
    assert owner("site", "access_notes") == "field"
    assert owner("equipment", "serial") == "field"
    assert owner("site", "name") == "office"
    assert owner("job", "assignee") == "office"
    assert owner("job", "fault") == "office"
    assert owner("customer", "phone") == "office"


def test_patch_without_concurrency_is_applied() -> None:
    store = ServerStore("site", SITE)
    out = store.patch({"name": "New depot"}, store.version, w("office", 1_000, "dev-o"))
    assert out.status == "applied"
    assert out.changes == {"name": "New depot"}
    assert out.conflicts == []
    assert out.stamped == ["name"]
    assert store.fields["name"] == FieldVersion(11, encode(1_000, 0), "office", "dev-o", "")
    assert store.version == 11  # the record's version is the one its changed fields carry


def test_fields_changed_on_one_side_only_are_merged() -> None:
    store = ServerStore("site", SITE)
    base = store.version
    first = store.patch({"name": "Depot North"}, base, w("office", 2_000, "dev-o"))
    assert first.status == "applied"
    second = store.patch({"contact_phone": "222"}, base, w("field", 1_000, "dev-f"))
    assert second.status == "merged"
    assert second.conflicts == []
    assert store.record["name"] == "Depot North"
    assert store.record["contact_phone"] == "222"


def test_same_field_same_value_is_no_conflict() -> None:
    store = ServerStore("site", SITE)
    base = store.version
    store.patch({"address": "2 Road"}, base, w("office", 2_000, "dev-a"))
    out = store.patch({"address": "2 Road"}, base, w("office", 1_000, "dev-b"))
    assert out.conflicts == []
    assert out.status == "merged"
    assert out.changes == {}
    assert store.record["address"] == "2 Road"


def test_unchanged_value_on_non_concurrent_patch_changes_nothing() -> None:
    store = ServerStore("site", SITE)
    out = store.patch({"name": "Depot"}, store.version, w("office", 1, "d"))
    assert out.status == "applied" and out.changes == {} and out.stamped == []


@pytest.mark.parametrize(
    "entity, field, owner_side",
    [
        ("job", "assignee", "office"),
        ("site", "name", "office"),
        ("site", "contact_phone", "field"),
        ("equipment", "firmware", "field"),
    ],
)
@pytest.mark.parametrize("owner_first", [True, False])
def test_owner_side_wins_regardless_of_hlc(entity: str, field: str, owner_side: str, owner_first: bool) -> None:
    other_side = "field" if owner_side == "office" else "office"
    record = {"id": "r-1", "entity": entity, field: "base"}
    store = ServerStore(entity, record)
    base = store.version
    # the owner's edit is far older on the hybrid clock, and has the smaller device id
    owner_edit = ({field: "owner value"}, w(owner_side, 1_000, "aaa"))
    other_edit = ({field: "other value"}, w(other_side, 9_000_000, "zzz"))
    for patch, writer in [owner_edit, other_edit] if owner_first else [other_edit, owner_edit]:
        store.patch(patch, base, writer)
    assert store.record[field] == "owner value"
    assert len(store.conflicts) == 1
    conflict = store.conflicts[0]
    assert (conflict.field, conflict.kept, conflict.other) == (field, "owner value", "other value")
    assert conflict.kept_by.side == owner_side and conflict.other_by.side == other_side
    assert "owned by" in conflict.rule


@pytest.mark.parametrize("side, field", [("office", "name"), ("field", "contact_phone")])
@pytest.mark.parametrize("later_first", [True, False])
def test_same_side_later_hlc_wins(side: str, field: str, later_first: bool) -> None:
    store = ServerStore("site", SITE)
    base = store.version
    early = ({field: "early"}, w(side, 1_000, "zzz", counter=5))  # larger device id, earlier clock
    late = ({field: "late"}, w(side, 1_000, "aaa", counter=6))
    for patch, writer in [late, early] if later_first else [early, late]:
        out = store.patch(patch, base, writer)
    assert out.status == "conflict"
    assert store.record[field] == "late"
    [conflict] = store.conflicts
    assert (conflict.kept, conflict.other) == ("late", "early")
    assert conflict.rule.startswith("both changed by the same side")


@pytest.mark.parametrize("larger_first", [True, False])
def test_same_side_same_hlc_larger_device_wins(larger_first: bool) -> None:
    store = ServerStore("site", SITE)
    base = store.version
    small = ({"name": "from small"}, w("office", 5_000, "device-a"))
    large = ({"name": "from large"}, w("office", 5_000, "device-b"))
    for patch, writer in [large, small] if larger_first else [small, large]:
        store.patch(patch, base, writer)
    assert store.record["name"] == "from large"
    [conflict] = store.conflicts
    assert (conflict.kept, conflict.other) == ("from large", "from small")


def test_sequential_edits_on_latest_version_never_conflict() -> None:
    store = ServerStore("site", SITE)
    for i, side in enumerate(["field", "office", "field"]):
        # a lower-ranked writer that has seen the previous change simply overwrites it
        out = store.patch({"contact_phone": f"v{i}"}, store.version, w(side, 10_000 - i, f"d{i}"))
        assert out.status == "applied" and out.conflicts == []
    assert store.record["contact_phone"] == "v2"


def test_rank_is_owner_then_hlc_then_device() -> None:
    assert rank("site", "name", "office", "0" * 16, "a") > rank("site", "name", "field", "f" * 16, "z")
    assert rank("site", "name", "office", encode(2, 0), "a") > rank("site", "name", "office", encode(1, 9), "z")
    assert rank("site", "name", "office", encode(2, 0), "b") > rank("site", "name", "office", encode(2, 0), "a")


def test_stock_after_and_serial_clash() -> None:
    assert stock_after(3, -1) == (2, False)
    assert stock_after(0, -1) == (-1, True)
    assert stock_after(-1, 5) == (4, False)
    assert serial_clash("SN1", "eq-2", "eq-1") is True
    assert serial_clash("SN1", "eq-1", "eq-1") is False
    assert serial_clash("SN1", None, "eq-1") is False
    assert serial_clash("", "eq-2", "eq-1") is False


# --- the key property: order independence ---------------------------------------------------

FIELDS = ("name", "address", "contact_phone", "access_notes")


@st.composite
def concurrent_edits(draw, distinct_values: bool):
    """N writers, distinct hlcs and device ids, each patching a non-empty subset of FIELDS."""
    n = draw(st.integers(min_value=2, max_value=5))
    hlcs = draw(st.lists(st.tuples(st.integers(1_000, 1_010), st.integers(0, 3)), min_size=n, max_size=n, unique=True))
    devices = draw(st.lists(st.sampled_from([f"dev-{c}" for c in "abcdefgh"]), min_size=n, max_size=n, unique=True))
    edits = []
    for i in range(n):
        side = draw(st.sampled_from(["office", "field"]))
        fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=len(FIELDS), unique=True))
        if distinct_values:
            patch = {f: f"{f}-by-writer-{i}" for f in fields}
        else:  # a small pool of values so that writers often agree; never the base value
            patch = {f: draw(st.sampled_from(["x", "y", "z"])) for f in fields}
        edits.append((patch, Writer(side, encode(*hlcs[i]), devices[i], f"user-{i}")))
    order = draw(st.permutations(range(n)))
    return edits, order


def _run(edits, order):
    store = ServerStore("site", SITE)
    base = store.version
    for i in order:
        patch, writer = edits[i]
        store.patch(patch, base, writer)
    losers = Counter((c.field, repr(c.other)) for c in store.conflicts)
    return {f: store.record[f] for f in FIELDS}, losers


def _expected_winner_values(edits):
    """What the total order says: per field, the highest-ranked writer's value."""
    result = {f: SITE[f] for f in FIELDS}
    for f in FIELDS:
        writers = [(rank("site", f, wr.side, wr.hlc, wr.device), patch[f]) for patch, wr in edits if f in patch]
        if writers:
            result[f] = max(writers)[1]
    return result


@settings(max_examples=300, deadline=None)
@given(data=concurrent_edits(distinct_values=True))
def test_any_order_gives_same_result_distinct_values(data) -> None:
    edits, order = data
    final, losers = _run(edits, order)
    reference_final, reference_losers = _run(edits, range(len(edits)))
    assert final == reference_final
    assert losers == reference_losers
    # and that result is the one the total order prescribes
    assert final == _expected_winner_values(edits)
    # every value of a writer that did not win its field is recorded as a loser, exactly once
    expected_losers = Counter((f, repr(patch[f])) for patch, _ in edits for f in patch if patch[f] != final[f])
    assert losers == expected_losers


# Writers 0 (lowest rank) and 2 (highest) set ``name`` to the same value "x", writer 1 sets
# "y". In order 0,2,1 the server skips writer 2 ("same value, nothing to decide") without
# recording that a higher-ranked writer now stands behind "x", so writer 1 is compared with
# writer 0 only, wins, and "y" ends up stored; in order 0,1,2 the final value is "x".
_AGREEING_EDITS = [
    ({"name": "x"}, Writer("office", encode(1_000, 0), "dev-a")),
    ({"name": "y"}, Writer("office", encode(1_001, 0), "dev-b")),
    ({"name": "x"}, Writer("office", encode(1_002, 0), "dev-c")),
]


def _set_aside(losers: Counter, final: dict[str, Any]) -> set[tuple[str, str]]:
    """The values that did not end up in the record: each must be in front of a person.
    (A value that lost for a while and was then restored by a stronger writer may also appear
    as a loser in some orders; it is the final value, so nothing of it is lost.)"""
    return {(f, v) for f, v in losers if v != repr(final[f])}


def test_agreeing_writers_order_independence_example() -> None:
    final_a, losers_a = _run(_AGREEING_EDITS, [0, 1, 2])
    final_b, losers_b = _run(_AGREEING_EDITS, [0, 2, 1])
    assert final_a["name"] == "x"
    assert final_b == final_a
    assert _set_aside(losers_b, final_b) == _set_aside(losers_a, final_a) == {("name", "'y'")}


@settings(max_examples=300, deadline=None)
@example(data=(_AGREEING_EDITS, [0, 2, 1]))
@given(data=concurrent_edits(distinct_values=False))
def test_any_order_gives_same_result_any_values(data) -> None:
    edits, order = data
    final, losers = _run(edits, order)
    reference_final, reference_losers = _run(edits, range(len(edits)))
    assert final == reference_final
    assert final == _expected_winner_values(edits)
    written = {(f, repr(patch[f])) for patch, _ in edits for f in patch}
    assert (
        _set_aside(losers, final)
        == _set_aside(reference_losers, final)
        == {(f, v) for f, v in written if v != repr(final[f])}
    )
