"""Fixtures for the web monitor's tests: one `controlroom up` per module (tests/support/up.py),
tokens made with `controlroom token create`, and a headless Chromium driven by Selenium.

Chromium runs with a fresh profile in the test's tmp dir and the flags this machine needs (root,
closed network). Every wait is explicit (`WebDriverWait` on an element or its text), never a sleep.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import skip_or_fail
from tests.support.up import start_up, stop_up

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")
WAIT_S = 60


@dataclass
class Up:
    """A running `controlroom up`: its base URL, its state directory and its admin token."""

    url: str
    state_dir: Path
    admin_token: str

    @property
    def ui(self) -> str:
        return f"{self.url}/ui/"

    def token(self, user: str, namespaces: str, scopes: str = "read,operate") -> str:
        """A token made by the CLI against the running gateway's state directory."""
        out = subprocess.run([sys.executable, "-m", "mcp_gateway.cli", "token", "create", "--user", user,
                              "--namespaces", namespaces, "--scopes", scopes, "--state-dir", str(self.state_dir)],
                             capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip().splitlines()[-1]

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client of the monitor; with ``token``, signed in by ``Authorization: Bearer``."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, follow_redirects=False)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    state = tmp_path_factory.mktemp("up")
    process, details = start_up(state)
    try:
        yield Up(url=details["url"].removesuffix("/mcp"), state_dir=state, admin_token=details["token"])
    finally:
        stop_up(process)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium (Selenium), quit after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        skip_or_fail("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary  # type: ignore[assignment]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver, log_output=str(tmp_path / "chromedriver.log")))
    chrome.set_page_load_timeout(WAIT_S)
    try:
        yield chrome
    finally:
        chrome.quit()
