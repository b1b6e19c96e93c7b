"""The laptop app in process, over a laptop store seeded as enrolled and pulled (no server), and
an HTTP client that is the engineer's browser: it opened the one-time link and sends the
headers a browser sends (``Origin`` on writes)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from field_client import FieldClient, Workbench
from field_client.ui import LaptopApp
from tests.client.laptop_helpers import seed


@pytest.fixture
def laptop(tmp_path: Path) -> Iterator[FieldClient]:
    client = FieldClient(tmp_path / "home")
    seed(client)
    client.today = lambda: dt.date(2025, 1, 10)  # EQ-001 in warranty: free work unless a test says otherwise
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def app(laptop: FieldClient) -> Iterator[LaptopApp]:
    with LaptopApp(Workbench(laptop)) as running:
        yield running


class Browser:
    """The engineer's browser, as far as the app can tell: its cookie, its Origin, its forms."""

    def __init__(self, app: LaptopApp, locale: str = "en") -> None:
        self.app = app
        self.http = httpx.Client(
            base_url=app.origin, timeout=20, follow_redirects=False, headers={"accept-language": locale}
        )
        opened = self.http.get(app.url)
        assert opened.status_code == 303, opened.text

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self) -> str:
        found = re.search(r'data-csrf="([^"]+)"', self.get("/").text)
        assert found
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf()
        headers = {"origin": self.app.origin, **kwargs.pop("headers", {})}
        return self.http.post(path, data=form, headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browser(app: LaptopApp) -> Iterator[Browser]:
    b = Browser(app)
    yield b
    b.close()


def pending(client: FieldClient) -> int:
    return int(client.status()["pending"])
