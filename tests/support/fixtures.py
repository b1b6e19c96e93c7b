"""The pytest fixtures of the end-to-end harness (``tests/support/live.py``), for every test folder:
``tests/conftest.py`` makes them available everywhere.

A server store is initialised and loaded through the CLI once per session and backend (``server_template``);
each test serves a fresh copy (``server_data``, ``live_server``) and enrolls real laptops on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

import httpx
import pytest

from .blobstores import BlobBackend
from .databases import create_database, database_of, drop_database, pg_available, use_database
from .live import TOKENS_PER_USER, DEMO_DATA, DEMO_USERS, LiveServer, cli_json, run_cli

T = TypeVar("T")

# The folders whose tests depend on the store: every test there that reaches a server store runs on
# both backends (``backend``), in ``make test`` as everywhere. Servers and CLI commands are forked
# from a pre-imported parent (tests/support/zygote.py): without it the doubled folders took 19
# minutes on 2 cores (2026-12-02), with it the whole suite takes 7 to 9.
BOTH_BACKENDS = ("server", "office", "e2e", "reliability", "security")


def backends_for(path: Path) -> list[str]:
    """The backends a test file runs on: both in ``BOTH_BACKENDS``, SQLite alone elsewhere.

    Left on SQLite alone, and why: the laptop's own tests (``client``, ``field``, ``ui``,
    ``browser``) meet the server only through the protocol, which the backend does not change;
    ``protocol``, ``fixtures`` and ``bench`` test no store behaviour (``make bench`` measures
    both). Doubling them would add minutes and prove nothing the five folders above do not."""
    parts = path.parts
    if "tests" not in parts:
        return ["sqlite"]
    at = parts.index("tests")
    folder = parts[at + 1] if len(parts) > at + 1 else ""
    return ["sqlite", "postgresql"] if folder in BOTH_BACKENDS else ["sqlite"]


class PerBackend(Generic[T]):
    """Values a worker makes once per backend, on first use, and closes at the session's end: a
    session-scoped fixture over ``backend`` would keep one at a time, and a pytest-xdist worker
    that runs a SQLite test after a PostgreSQL one would tear the PostgreSQL one down and build
    it again for its next PostgreSQL test. ``make(backend)`` is a context manager."""

    def __init__(self, make: Callable[[str], AbstractContextManager[T]]) -> None:
        self._make = make
        self._made: dict[str, T] = {}
        self._stack = contextlib.ExitStack()

    def __call__(self, backend: str) -> T:
        if backend not in self._made:
            self._made[backend] = self._stack.enter_context(self._make(backend))
        return self._made[backend]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the store the test's server runs on (``tests/conftest.py``
    gives each test its backends with ``backends_for``; module-scoped, so that a module's own
    fixtures may depend on it). A test on PostgreSQL fails, never skips, when no PostgreSQL
    answers at ``FIELDSYNC_TEST_PG``: ``make test`` starts one."""
    name = str(getattr(request, "param", "sqlite"))
    if name == "postgresql" and not pg_available():
        pytest.fail("no PostgreSQL answers at FIELDSYNC_TEST_PG: run `make pg-deps` (or `make test`)")
    return name


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str | None]:
    """A new, empty PostgreSQL database for this test (dropped after it), or None on SQLite."""
    if backend != "postgresql":
        yield None
        return
    url = create_database()
    yield url
    drop_database(url)


def _enrollment_token(data: Path, name: str, role: str) -> str:
    """``field-server user add NAME --role ROLE --json``, run by the CLI's own ``main`` in this
    process: fifteen tokens per template, on every worker and backend, would otherwise be fifteen
    interpreters started (seconds each on a loaded machine) for the same code path."""
    from server import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["user", "add", name, "--role", role, "--data", str(data), "--json"])
    assert status == 0, out.getvalue()
    return str(json.loads(out.getvalue())["enrollment_token"])


@contextlib.contextmanager
def _server_template(root: Path, backend: str) -> Iterator[tuple[Path, dict[str, list[str]]]]:
    """A server store initialised and loaded through the CLI, with enrollment tokens of the demo
    users made in advance (``LiveServer.enrollment`` takes them)."""
    data = root / "server"
    url = create_database() if backend == "postgresql" else None
    if url:
        use_database(data, url)
    try:
        admin = cli_json("field-server", "init", "--data", str(data))
        (data.parent / "admin_token").write_text(admin["admin_token"])
        run_cli("field-server", "load-fixtures", "--data", str(data), str(DEMO_DATA))
        tokens = {
            name: [_enrollment_token(data, name, role) for _ in range(TOKENS_PER_USER)]
            for name, role in DEMO_USERS.items()
        }
        yield data, tokens
    finally:
        if url:
            drop_database(url)


@pytest.fixture(scope="session")
def server_templates(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PerBackend[tuple[Path, dict[str, list[str]]]]]:
    """The template store of each backend, made once per session (per worker) when first asked for."""
    templates = PerBackend(lambda backend: _server_template(tmp_path_factory.mktemp(f"template-{backend}"), backend))
    yield templates
    templates.close()


@pytest.fixture(scope="module")
def server_template(
    server_templates: PerBackend[tuple[Path, dict[str, list[str]]]], backend: str
) -> tuple[Path, dict[str, list[str]]]:
    """The template store of this test's backend; tests copy it (on PostgreSQL: clone its
    database), never serve it."""
    return server_templates(backend)


@pytest.fixture
def server_data(tmp_path: Path, server_template: tuple[Path, dict[str, list[str]]]) -> Iterator[Path]:
    """A fresh copy of the template store for one test (the template is never served)."""
    template, tokens = server_template
    data = tmp_path / "server"
    shutil.copytree(template, data)
    (tmp_path / "admin_token").write_text((template.parent / "admin_token").read_text())
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    source = database_of(template)
    url = create_database(template=source) if source else None
    if url:
        use_database(data, url)
    yield data
    if url:
        drop_database(url)


@pytest.fixture
def live_server(server_data: Path, blob_store: BlobBackend) -> Iterator[LiveServer]:
    """The server on a fresh copy of the template, its blobs where ``blob_store`` says (the
    directory under ``--data`` unless a test is parametrized with "s3": tests/support/blobstores.py)."""
    blob_store.seed(server_data)
    server = LiveServer(server_data, blobs=blob_store.url)
    server.blob_store = blob_store  # type: ignore[attr-defined]
    server.admin_token = (server_data.parent / "admin_token").read_text()  # type: ignore[attr-defined]
    with server:
        yield server


@pytest.fixture
def laptop(tmp_path: Path, live_server: LiveServer) -> Iterator[Any]:
    """``laptop("li-wei")``: a real FieldClient in its own home, enrolled on the live server."""
    from field_client import FieldClient

    made: list[Any] = []

    def make(
        name: str = "li-wei", role: str = "engineer", http: httpx.BaseTransport | None = None, retries: int = 2
    ) -> Any:
        client = FieldClient(
            tmp_path / f"laptop-{name}-{len(made)}", http=http, retries=retries, backoff=0.01, timeout=20
        )
        client.login(live_server.url, live_server.enrollment(name, role))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def engineer(live_server: LiveServer) -> Iterator[httpx.Client]:
    """Li Wei's enrolled device, as a bare HTTP client (JSON bodies): for tests of the wire itself."""
    token = live_server.enrollment("li-wei")
    reply = httpx.post(f"{live_server.url}/sync/v1/enroll", json={"enrollment_token": token}).json()
    with httpx.Client(
        base_url=live_server.url, timeout=20, headers={"Authorization": f"Bearer {reply['device_token']}"}
    ) as client:
        yield client


@pytest.fixture
def laptops_speak(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``laptops_speak(2)``: this test's laptops speak another protocol version from now on, in
    the paths of their requests (``sync_protocol.sync_path``) and in what their hello says."""

    def speak(version: int) -> None:
        monkeypatch.setattr("sync_protocol.messages.PROTOCOL_VERSION", version)
        monkeypatch.setattr("field_client.sync.PROTOCOL_VERSION", version)

    return speak
