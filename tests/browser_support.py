"""A real browser for the web tests: the HTTP server `chamyeo run` starts (handlers/server.py),
listening on 127.0.0.1, and headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium. Selenium blocks, and the server runs on the test's event loop: every browser step
runs in a thread (`await browser.do(...)`). Without chromium the tests skip, unless
CHAMYEO_REQUIRE_BROWSER is set (CI sets it: there, a missing browser fails)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from bot.services import Services
from bot.settings import Settings
from handlers.server import build_http_app

T = TypeVar("T")
PHONE = (390, 844)
DESKTOP = (1280, 900)
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"


def chromium_or_skip() -> str:
    found = next((path for path in CHROMIUM if os.path.exists(path)), None)
    if found is None or not os.path.exists(DRIVER):
        if os.environ.get("CHAMYEO_REQUIRE_BROWSER"):
            pytest.fail("CHAMYEO_REQUIRE_BROWSER is set but chromium/chromedriver are missing")
        pytest.skip("no chromium and chromium-driver (apt-get install chromium chromium-driver)")
    return found


async def serve(services: Services, admin_id: str) -> tuple[web.AppRunner, str]:
    """The real server on a free port of 127.0.0.1; its base address."""
    runner = web.AppRunner(build_http_app(services, Settings(
        _env_file=None, chamyeo_public_url="http://127.0.0.1",
        chamyeo_admin_ids=(int(admin_id),))))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


class Browser:
    """Headless Chromium; `do` runs a blocking step in a thread so the server keeps serving."""

    def __init__(self, binary: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--lang=ko-KR", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"intl.accept_languages": "ko-KR,ko"})
        self.driver = webdriver.Chrome(options=options, service=Service(DRIVER))

    async def do(self, step: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(step, *args)

    async def open(self, url: str) -> None:
        await self.do(self.driver.get, url)

    async def click(self, element_id: str) -> None:
        from selenium.webdriver.common.by import By

        def press() -> None:
            self._and_wait(lambda: self.driver.find_element(By.ID, element_id).click())

        await self.do(press)

    def _and_wait(self, action: Callable[[], None]) -> None:
        """Do `action` (a click), then wait until the next page has replaced this one."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.driver.find_element(By.TAG_NAME, "html")
        action()

        def replaced(_: object) -> bool:
            try:
                page.is_enabled()
            except WebDriverException:
                # Stale, or, asked mid-navigation, Chromium's "Node with given id does not
                # belong to the document": either way the old page is gone.
                return True
            return False

        WebDriverWait(self.driver, 20).until(replaced)
        WebDriverWait(self.driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete")

    async def follow(self, href: str) -> None:
        """Click the page's link to `href`. Within the console, pages are reached by their links:
        the session cookie is SameSite=Strict, and a navigation that no page of ours started
        (as WebDriver's `get` is) carries no such cookie."""
        from selenium.webdriver.common.by import By

        def press() -> None:
            self._and_wait(
                lambda: self.driver.find_element(By.CSS_SELECTOR, f'a[href="{href}"]').click())

        await self.do(press)

    async def type(self, element_id: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        def fill() -> None:
            field = self.driver.find_element(By.ID, element_id)
            field.clear()
            field.send_keys(text)

        await self.do(fill)

    async def text(self, element_id: str | None = None) -> str:
        from selenium.webdriver.common.by import By

        def read() -> str:
            if element_id is None:
                return str(self.driver.find_element(By.TAG_NAME, "body").text)
            return str(self.driver.find_element(By.ID, element_id).text)

        return await self.do(read)

    async def screenshot(self, path: Path, size: tuple[int, int]) -> None:
        def shoot() -> None:
            self.driver.set_window_size(*size)
            # The whole page, not only the first screen.
            height = self.driver.execute_script("return document.body.scrollHeight")
            self.driver.set_window_size(size[0], max(size[1], min(int(height) + 40, 6000)))
            self.driver.save_screenshot(str(path))
            self.driver.set_window_size(*DESKTOP)

        await self.do(shoot)

    async def accessibility_violations(self) -> list[dict]:
        """axe-core's serious and critical violations on the current page."""
        source = files("axe_core_python").joinpath("axe.min.js").read_text(encoding="utf-8")

        def check() -> list[dict]:
            self.driver.execute_script(source)
            result = self.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
                ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', "
                "impact: 'critical', description: String(e), nodes: []}]));")
            return [v for v in result if v.get("impact") in ("serious", "critical")]

        return await self.do(check)

    def close(self) -> None:
        self.driver.quit()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: CHAMYEO_SCREENSHOTS (docs/screenshots when refreshing the
    README's), else the test's own directory."""
    chosen = os.environ.get("CHAMYEO_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path

