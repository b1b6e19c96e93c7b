"""Fixtures every test folder may use: a real server process and real field clients.

They are defined in ``tests/support/fixtures.py`` over the harness of ``tests/support/live.py``;
helpers shared between test folders live in ``tests/support/`` too, never in a conftest.
"""

from tests.support.blobstores import blob_store, s3_endpoint  # noqa: F401
from tests.support.browser import chromium, new_page  # noqa: F401
from tests.support.live import ROOT
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.fixtures import (  # noqa: F401
    backend,
    backends_for,
    engineer,
    fresh_database,
    laptop,
    live_server,
    server_data,
    server_template,
    server_templates,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that reaches a server store runs once per backend of its folder; a test marked
    ``@pytest.mark.backends("sqlite")`` only on those named (its docstring says why)."""
    if "backend" in metafunc.fixturenames:
        names = backends_for(Path(str(metafunc.definition.path)))
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:
            names = [n for n in names if n in only.args] or list(only.args)
        metafunc.parametrize("backend", names, indirect=True, scope="module", ids=[f"{n}" for n in names])


# pytest-xdist (``--dist loadgroup --no-loadscope-reorder``, pyproject.toml) hands each worker whole
# groups in the order they come here: a test file on one backend (its module-scoped fixtures are
# made once), and the security suite's tests of the shared attacked server of one backend (its
# aftermath checks run last, on the worker that ran the attacks). The groups with the most work go
# first, a slow test counting as SLOW ordinary ones, so that no long group starts last.
SHARED_SECURITY = ("attack", "live_server")
SLOW = 20


def _group(item: pytest.Item) -> str:
    path = Path(str(item.path))
    relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()
    callspec = getattr(item, "callspec", None)
    store = callspec.params.get("backend", "") if callspec is not None else ""
    if relative.startswith("tests/security/") and any(f in item.fixturenames for f in SHARED_SECURITY):
        return f"security-{store}"
    return f"{relative}-{store}" if store else relative


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Mark every test with its group before pytest-xdist reads the marks; once every other hook
    has ordered the tests (pytest by fixture, ``tests/security/conftest.py`` the aftermath last),
    put the groups in order of their work, each group's tests in the order they had."""
    groups = {id(item): _group(item) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    yield
    work: dict[str, int] = {}
    for item in items:
        work[groups[id(item)]] = work.get(groups[id(item)], 0) + (SLOW if item.get_closest_marker("slow") else 1)
    first = {name: n for n, name in enumerate(work)}
    items.sort(key=lambda item: (-work[groups[id(item)]], first[groups[id(item)]]))
