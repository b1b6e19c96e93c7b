"""Every sync_protocol module's doctests run and pass."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sync_protocol

MODULES = sorted({"sync_protocol", *(f"sync_protocol.{info.name}"
                                     for info in pkgutil.iter_modules(sync_protocol.__path__))})


def test_all_modules_found() -> None:
    expected = {"codec", "errors", "events", "hashing", "hlc", "ids", "merge", "messages",
                "records", "states"}
    assert {name.rsplit(".", 1)[-1] for name in MODULES} >= expected


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"


def test_doctests_exist_where_promised() -> None:
    attempted = sum(doctest.testmod(importlib.import_module(f"sync_protocol.{n}")).attempted
                    for n in ("hlc", "codec", "ids", "merge", "states"))
    assert attempted >= 10
