"""Hybrid logical clock: monotonic ticks, observe, persistence, drift guard, string order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol.hlc import MAX_DRIFT_MS, Clock, ClockDriftError, decode, encode, wall_ms

MS = st.integers(min_value=0, max_value=2**48 - 1)
COUNTER = st.integers(min_value=0, max_value=0xFFFF)
# Realistic wall times: around 2020-2030, so a day's drift stays inside 48 bits.
NOW = st.integers(min_value=1_577_836_800_000, max_value=1_893_456_000_000)


class FakeWall:
    """A wall clock the test drives: it may jump back, stand still or leap forward."""

    def __init__(self, readings: list[int]) -> None:
        self.readings = list(readings)
        self.index = 0

    def __call__(self) -> int:
        value = self.readings[min(self.index, len(self.readings) - 1)]
        self.index += 1
        return value


def test_encode_decode_fixed_width_examples() -> None:
    assert encode(1000, 0) == "0000000003e80000"
    assert encode(1000, 1) == "0000000003e80001"
    assert decode("0000000003e8ffff") == (1000, 0xFFFF)
    assert wall_ms("0000000003e80005") == 1000
    with pytest.raises(ValueError):
        decode("0000000003E80000")  # upper case is not the canonical form
    with pytest.raises(ValueError):
        decode("3e80000")


def test_tick_with_frozen_wall_clock_counts_up() -> None:
    clock = Clock(now_ms=lambda: 5_000)
    stamps = [clock.tick() for _ in range(5)]
    assert stamps == [encode(5_000, i) for i in range(5)]


def test_tick_when_wall_clock_goes_backwards() -> None:
    clock = Clock(now_ms=FakeWall([10_000, 4_000, 4_000, 9_999]))
    stamps = [clock.tick() for _ in range(4)]
    assert stamps == [encode(10_000, 0), encode(10_000, 1), encode(10_000, 2), encode(10_000, 3)]


def test_counter_overflow_carries_into_milliseconds() -> None:
    clock = Clock(last=encode(7_000, 0xFFFF), now_ms=lambda: 1)
    assert clock.tick() == encode(7_001, 0)


@settings(max_examples=200)
@given(readings=st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=60))
def test_tick_strictly_increasing_whatever_the_wall_clock_does(readings: list[int]) -> None:
    clock = Clock(now_ms=FakeWall(readings))
    stamps = [clock.tick() for _ in readings]
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    assert all(decode(a) < decode(b) for a, b in zip(stamps, stamps[1:], strict=False))
    # never behind the wall clock it was shown
    for stamp, now in zip(stamps, readings, strict=True):
        assert wall_ms(stamp) >= now


@settings(max_examples=300)
@given(
    last_ms=NOW,
    last_counter=COUNTER,
    now=NOW,
    remote_offset=st.integers(min_value=-(10**9), max_value=MAX_DRIFT_MS),
    remote_counter=COUNTER,
)
def test_observe_is_greater_than_local_and_remote(
    last_ms: int, last_counter: int, now: int, remote_offset: int, remote_counter: int
) -> None:
    local_last = encode(last_ms, last_counter)
    remote = encode(max(0, now + remote_offset), remote_counter)
    clock = Clock(last=local_last, now_ms=lambda: now)
    result = clock.observe(remote)
    assert result > local_last
    assert result > remote
    assert clock.last == result
    # and the next tick is later still
    assert clock.tick() > result


def test_observe_examples() -> None:
    # remote ahead of both: adopt its ms, counter + 1
    clock = Clock(last=encode(100, 3), now_ms=lambda: 50)
    assert clock.observe(encode(200, 7)) == encode(200, 8)
    # same ms: max counter + 1
    clock = Clock(last=encode(200, 9), now_ms=lambda: 50)
    assert clock.observe(encode(200, 4)) == encode(200, 10)
    # wall clock ahead of both: wall clock, counter 0
    clock = Clock(last=encode(100, 3), now_ms=lambda: 1_000)
    assert clock.observe(encode(200, 7)) == encode(1_000, 0)
    # local ahead: just bump
    clock = Clock(last=encode(300, 1), now_ms=lambda: 50)
    assert clock.observe(encode(200, 7)) == encode(300, 2)


@settings(max_examples=200)
@given(
    actions=st.lists(st.tuples(st.booleans(), NOW, st.integers(-5_000, 5_000), COUNTER), min_size=1, max_size=40),
    restart_at=st.integers(min_value=0, max_value=40),
    restart_wall=NOW,
)
def test_restart_from_persisted_last_never_goes_lower(actions, restart_at, restart_wall) -> None:
    now = {"ms": actions[0][1]}
    clock = Clock(now_ms=lambda: now["ms"])
    issued: list[str] = []
    for i, (is_tick, wall, offset, counter) in enumerate(actions):
        if i == restart_at:
            persisted = clock.last
            # the laptop restarts with its wall clock anywhere (possibly far behind)
            now["ms"] = restart_wall
            clock = Clock(last=persisted, now_ms=lambda: now["ms"])
            assert clock.last == persisted
        now["ms"] = wall
        stamp = clock.tick() if is_tick else clock.observe(encode(max(0, wall + offset), counter))
        assert all(stamp > earlier for earlier in issued)
        issued.append(stamp)


def test_restart_with_wall_clock_behind_examples() -> None:
    clock = Clock(now_ms=lambda: 2_000_000)
    issued = [clock.tick() for _ in range(3)]
    reborn = Clock(last=clock.last, now_ms=lambda: 10)  # CMOS battery died
    assert reborn.tick() > max(issued)
    assert reborn.tick() == encode(2_000_000, 4)


def test_remote_beyond_the_drift_bound_raises() -> None:
    now = 1_700_000_000_000
    clock = Clock(last=encode(now, 5), now_ms=lambda: now)
    before = clock.last
    with pytest.raises(ClockDriftError):
        clock.observe(encode(now + MAX_DRIFT_MS + 1, 0))
    assert clock.last == before  # refused, not adopted
    # exactly the bound ahead is still accepted
    assert clock.observe(encode(now + MAX_DRIFT_MS, 0)) == encode(now + MAX_DRIFT_MS, 1)
    assert issubclass(ClockDriftError, ValueError)


@given(now=NOW, extra=st.integers(min_value=1, max_value=10**9), counter=COUNTER)
def test_drift_property(now: int, extra: int, counter: int) -> None:
    clock = Clock(now_ms=lambda: now)
    with pytest.raises(ClockDriftError):
        clock.observe(encode(now + MAX_DRIFT_MS + extra, counter))


def test_observe_rejects_malformed_stamp() -> None:
    with pytest.raises(ValueError):
        Clock(now_ms=lambda: 0).observe("not-a-stamp")


@settings(max_examples=500)
@given(a=st.tuples(MS, COUNTER), b=st.tuples(MS, COUNTER))
def test_string_order_is_ms_counter_order(a: tuple[int, int], b: tuple[int, int]) -> None:
    sa, sb = encode(*a), encode(*b)
    assert len(sa) == len(sb) == 16
    assert (sa < sb) == (a < b)
    assert (sa == sb) == (a == b)
    assert decode(sa) == a


@given(stamps=st.lists(st.tuples(MS, COUNTER), max_size=30))
def test_sorting_strings_sorts_clock_values(stamps: list[tuple[int, int]]) -> None:
    assert [decode(s) for s in sorted(encode(*t) for t in stamps)] == sorted(stamps)
