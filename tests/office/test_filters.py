"""The template filters (how durations, times and money read on the pages; their doctests run
with every module's under --doctest-modules)."""

from __future__ import annotations

from server.office import filters


def test_times_are_shown_in_utc_whatever_zone_they_carry() -> None:
    assert filters.when("2026-11-20T17:00:00+08:00") == "2026-11-20 09:00 UTC"
    assert filters.when(None) == ""
