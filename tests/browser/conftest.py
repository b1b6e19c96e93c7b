"""Headless Chromium (Debian's, via Playwright) against a real server process.

The live server, its demo store and the enrolled laptops are the end-to-end harness's
(``tests/support/``); this adds a browser. Playwright drives ``/usr/bin/chromium``
(installed by ``make browser-deps``), never a browser it downloads itself: ``chromium`` and
``new_page`` are ``tests/support/browser.py``'s, shared from ``tests/conftest.py``, so that the
security suite's browser test uses the one Playwright a session may run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.live import DEMO_DATA, DEMO_USERS

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def server_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    """The e2e harness's demo store, built in-process: a dozen CLI start-ups would cost half a
    minute of the browser tests' budget. Same store, same pre-made enrollment tokens."""
    from server import auth
    from server.blobstore import DirectoryStore
    from server.storage import Database
    from server.fixtures import load_fixtures
    from server.storage.schema import migrate

    data = tmp_path_factory.mktemp("browser-template") / "server"
    data.mkdir()
    db = Database(data / "fieldsync.db")
    try:
        db.exclusive(migrate)
        load_fixtures(db, DirectoryStore(data / "blobs"), DEMO_DATA)

        def enrollments(conn: Any) -> dict[str, list[str]]:
            admin = auth.add_user(conn, "admin", "admin", "Administrator", user_id="u-admin")
            (data.parent / "admin_token").write_text(auth.create_device(conn, admin, "init", "cli")[1])
            return {
                name: [auth.create_enrollment(conn, auth.add_user(conn, name, role)) for _ in range(3)]
                for name, role in DEMO_USERS.items()
            }

        tokens = db.write(enrollments)
    finally:
        db.close()
    return data, tokens


@pytest.fixture(scope="session")
def shoot() -> Any:
    """``shoot(page, "board")`` saves ``var/screenshots/board.png`` (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
