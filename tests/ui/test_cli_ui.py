"""``field ui`` as the engineer starts it: a free port on 127.0.0.1, the link printed, the default
browser opened on it (``--no-browser`` only prints), stopped by Ctrl-C or SIGTERM; and everything
it serves ships inside the package."""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx

from tests.client.laptop_helpers import ROOT
from tests.support.live import wait_until


def test_field_ui_opens_the_browser_on_its_one_time_link(laptop, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    laptop.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "field_client.cli", "--home", str(tmp_path / "home"), "ui"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BROWSER": str(browser), "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("fieldsync laptop app: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        assert wait_until(lambda: opened.exists() and opened.read_text().strip() == url, 20)
        with httpx.Client(timeout=10) as browser_session:
            assert browser_session.get(url, follow_redirects=True).status_code == 200
        assert httpx.get(url, timeout=10).status_code == 403  # spent: no other browser gets in
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(20) == 0


def test_no_browser_only_prints(laptop, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    laptop.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "field_client.cli",
            "--home",
            str(tmp_path / "home"),
            "--json",
            "ui",
            "--no-browser",
            "--lang",
            "zh_Hans",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BROWSER": f"touch {opened}", "PYTHONUNBUFFERED": "1"},
    )
    try:
        import json

        said = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        with httpx.Client(timeout=10) as session:
            page = session.get(said["url"], follow_redirects=True)
        assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text  # --lang: the default
        assert not opened.exists()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_every_template_script_style_and_catalog_ships_in_the_package() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, folders in (("field_client.ui", ("templates", "static")), ("sync_protocol", ("locale",))):
        base = ROOT / package.replace(".", "/")
        for folder in folders:
            for path in (base / folder).rglob("*"):
                if path.is_file():
                    relative = str(path.relative_to(base))
                    assert any(
                        fnmatch.fnmatch(relative, g) and relative.count("/") == g.count("/") for g in data[package]
                    ), f"{relative} is not package data"
