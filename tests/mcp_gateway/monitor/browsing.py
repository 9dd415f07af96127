"""A thin Selenium helper for the monitor's pages: sign in, wait for text, save screenshots."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from selenium.common.exceptions import (
    ElementNotInteractableException, NoSuchElementException, StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.mcp_gateway.monitor.conftest import WAIT_S


class Browser:
    """One signed-in (or not yet) Chromium on the monitor at ``ui``."""

    def __init__(self, driver: WebDriver, ui: str, shots: Path) -> None:
        self.driver = driver
        self.ui = ui.rstrip("/")
        self.shots = shots

    def open(self, path: str) -> None:
        self.driver.get(f"{self.ui}/{path.lstrip('/')}")

    def sign_in(self, token: str) -> None:
        self.open("/")
        self.wait_for("#token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "#signin").click()
        self.wait_for("#who")

    def wait_for(self, css: str):  # noqa: ANN201 - a Selenium WebElement
        return WebDriverWait(self.driver, WAIT_S).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def wait_text(self, css: str, check: Callable[[str], bool]) -> str:
        """The text of ``css`` once ``check`` holds for it (the page is not reloaded meanwhile)."""
        seen: list[str] = []

        def ready(driver: WebDriver) -> bool:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            text = found[0].text if found else ""
            seen.append(text)
            return bool(found) and check(text)

        WebDriverWait(self.driver, WAIT_S, ignored_exceptions=(Exception,)).until(
            ready, message=f"{css}: last texts {seen[-5:]}")
        return seen[-1]

    def fill(self, css: str, value: str) -> None:
        element = self.wait_for(css)
        element.clear()
        element.send_keys(value)

    def click(self, css: str) -> None:
        """Click ``css`` once it is there; again if a live swap replaced it under the click."""

        def clicked(driver: WebDriver) -> bool:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return True

        WebDriverWait(self.driver, WAIT_S, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                                                ElementNotInteractableException)).until(clicked)

    def shot(self, name: str) -> Path:
        """A screenshot in the test's tmp dir, and a copy at 0.6 scale (``NAME.small.png``, what
        docs/monitor/ holds)."""
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        size = self.driver.get_window_size()
        small = self.driver.execute_cdp_cmd("Page.captureScreenshot", {  # type: ignore[attr-defined]
            "format": "png", "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 0.6}})
        (self.shots / f"{name}.small.png").write_bytes(base64.b64decode(small["data"]))
        return path
