"""The security suite attacks one store per backend: every test of ``tests/security`` on that
backend shares one real server process (``live_server`` here replaces the end-to-end harness's
one-server-per-test), so that the store ends the run holding everything every attack left in it.
``test_aftermath.py`` then runs last and checks that store: the audit chain verifies, SQLite finds
no corruption, and no office page, API answer or laptop view fails on it. The tests of one
backend's shared server run on one pytest-xdist worker, in this order (``tests/conftest.py``).

Tests here therefore never assume a pristine store: each makes the jobs and records it needs
(``Attack.new_job``) or reads the state it starts from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.fixtures import PerBackend
from tests.support.live import LiveServer

from .attackers import Attack, own_server


# Every test here comes from 127.0.0.1, and the fuzzing alone fails hundreds of enrollments: the
# failure limits are tested on a server of their own (``test_strangers.py``), not here.
UNLIMITED = "[security]\nfailures_per_address = 1000000\nfailures_per_token_prefix = 1000000\n"


@pytest.fixture(scope="session")
def attacked_servers(
    server_templates: PerBackend[tuple[Path, dict[str, list[str]]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PerBackend[LiveServer]]:
    """The one server per backend every security test attacks, on a copy of the demo store,
    started when first asked for and kept until the session ends."""
    servers = PerBackend(
        lambda backend: own_server(server_templates(backend), tmp_path_factory.mktemp(f"attacked-{backend}"), UNLIMITED)
    )
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def live_server(attacked_servers: PerBackend[LiveServer], backend: str) -> LiveServer:
    """The shared server of this test's backend."""
    return attacked_servers(backend)


@pytest.fixture(scope="session")
def attacks(attacked_servers: PerBackend[LiveServer]) -> Iterator[PerBackend[Attack]]:
    worlds = PerBackend(lambda backend: Attack(attacked_servers(backend)))
    yield worlds
    worlds.close()


@pytest.fixture(scope="module")
def attack(attacks: PerBackend[Attack], backend: str) -> Attack:
    """Enrolled devices of every role on the shared server, and ways to make fresh jobs."""
    return attacks(backend)


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    """The aftermath checks run after every other security test, whatever the selection."""
    security = [i for i in items if "tests/security/" in str(i.path).replace("\\", "/")]
    if not security:
        return
    last = [i for i in security if i.get_closest_marker("aftermath")]
    if not last:
        return
    rest = [i for i in items if i not in last]
    end = max(rest.index(i) for i in security if i not in last) + 1 if len(security) > len(last) else len(rest)
    items[:] = rest[:end] + last + rest[end:]
