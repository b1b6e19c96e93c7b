"""Fixtures every test folder may use: a real server process and real field clients.

They are defined in ``tests/support/fixtures.py`` over the harness of ``tests/support/live.py``;
helpers shared between test folders live in ``tests/support/`` too, never in a conftest.
"""

from tests.support.blobstores import blob_store, s3_endpoint  # noqa: F401
from tests.support.browser import chromium, new_page  # noqa: F401
from pathlib import Path

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
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that reaches a server store runs once per backend of its folder."""
    if "backend" in metafunc.fixturenames:
        names = backends_for(Path(str(metafunc.definition.path)))
        metafunc.parametrize("backend", names, indirect=True, scope="session", ids=[f"{n}" for n in names])
