"""The type-check ratchet of `make test` (tests/support/typecheck.py) fails when it should."""

from __future__ import annotations

from collections import Counter

from tests.support.typecheck import check

BASELINE = {"errors": 10, "type_ignores": 5}


def test_at_the_baseline_it_passes() -> None:
    ok, lines = check(Counter({"server/a.py": 10}), 5, BASELINE)
    assert ok and "sync_protocol clean" in lines[-1]


def test_a_new_error_fails_and_names_the_files() -> None:
    ok, lines = check(Counter({"server/a.py": 10, "field_client/b.py": 1}), 5, BASELINE)
    assert not ok and "11 errors, the baseline allows 10" in lines[0] and "field_client/b.py 1" in lines[0]


def test_a_new_type_ignore_fails() -> None:
    ok, lines = check(Counter({"server/a.py": 10}), 6, BASELINE)
    assert not ok and "6 type: ignore comments, the baseline allows 5" in lines[0]


def test_fewer_errors_pass_and_ask_for_a_lower_baseline() -> None:
    ok, lines = check(Counter({"server/a.py": 8}), 5, BASELINE)
    assert ok and "below the baseline of 10: lower it" in lines[0]


def test_any_error_in_sync_protocol_fails() -> None:
    ok, lines = check(Counter({"sync_protocol/merge.py": 1}), 0, BASELINE)
    assert not ok and "sync_protocol must pass mypy --strict" in lines[0]
