"""The template filters' doctests (how durations, times and money read on the pages)."""

from __future__ import annotations

import doctest

from server.office import filters


def test_filter_doctests() -> None:
    result = doctest.testmod(filters)
    assert result.attempted >= 2 and result.failed == 0


def test_times_are_shown_in_utc_whatever_zone_they_carry() -> None:
    assert filters.when("2026-11-20T17:00:00+08:00") == "2026-11-20 09:00 UTC"
    assert filters.when(None) == ""
