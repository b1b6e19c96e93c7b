"""Fixtures every test folder may use: a real server process and real field clients.

They are defined in ``tests/support/fixtures.py`` over the harness of ``tests/support/live.py``;
helpers shared between test folders live in ``tests/support/`` too, never in a conftest.
"""

from tests.support.blobstores import blob_store, s3_endpoint  # noqa: F401
from tests.support.browser import chromium, new_page  # noqa: F401
from tests.support.databases import BACKENDS
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.fixtures import (  # noqa: F401
    backend,
    backends_for,
    engineer,
    fresh_database,
    laptop,
    laptops_speak,
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


# pytest-xdist (``--dist loadscope --no-loadscope-reorder``, pyproject.toml) hands each worker whole
# groups (``group_of``), in the order they come here: a test file on one backend (its module-scoped
# fixtures are made once), and the security suite on one backend (its shared attacked server is
# made once, and its aftermath checks run last, on the worker that ran the attacks). The groups
# with the most work go first, a slow test counting as SLOW ordinary ones, so that no long group
# starts last. (xdist's own ``xdist_group`` marks rename node ids, which pytest 9 ignores.)
SLOW = 20


def group_of(nodeid: str) -> str:
    """The group of a test, from its node id alone (the scheduler sees nothing else).

    >>> group_of("tests/security/test_bounds.py::test_x[postgresql-a]")
    'security-postgresql'
    >>> group_of("tests/e2e/test_blob_transfers.py::test_y[directory-sqlite]")
    'tests/e2e/test_blob_transfers.py-sqlite'
    >>> group_of("tests/security/test_schemathesis.py::test_s[POST /sync/v1/push][sqlite]")
    'security-sqlite'
    >>> group_of("tests/client/test_cli.py::test_z")
    'tests/client/test_cli.py'
    """
    path, _, rest = nodeid.partition("::")
    params = re.split(r"[\[\]\-]", rest[rest.find("[") :]) if rest.endswith("]") else []
    store = next((p for p in params if p in BACKENDS), "")
    if path.startswith("tests/security/") and store:
        return f"security-{store}"
    return f"{path}-{store}" if store else path


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduler, its scopes the groups of ``group_of``."""
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return Groups(config, log)  # type: ignore[arg-type]


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Once every other hook has ordered the tests (pytest by fixture, ``tests/security/conftest.py``
    the aftermath last), put the groups in order of their work, each group's tests in the order
    they had."""
    yield
    work: dict[str, int] = {}
    for item in items:
        group = group_of(item.nodeid)
        work[group] = work.get(group, 0) + (SLOW if item.get_closest_marker("slow") else 1)
    first = {name: n for n, name in enumerate(work)}
    items.sort(key=lambda item: (-work[group_of(item.nodeid)], first[group_of(item.nodeid)]))
