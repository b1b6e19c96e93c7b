"""Headless Chromium for every test folder that needs a browser: Debian's, driven by Playwright
(installed by ``make browser-deps``), never a browser Playwright downloads. Playwright's sync API
runs one event loop per session, so there is one ``chromium`` per session, shared by the browser
tests and the security suite alike (from ``tests/conftest.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = Path(os.environ.get("FIELDSYNC_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-dev-shm-usage",
                # the laptop app's camera: a synthetic one, no prompt
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """``new_page()``: a page in a fresh browser context (its own cookies), closed after the test."""
    contexts: list[Any] = []

    def make() -> Any:
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
