"""Headless Debian Chromium through chromium-driver and selenium (browser tests and README screenshots)."""

from __future__ import annotations

import base64
import http.server
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
WORKBENCH_AUTH = ("sre", "wb-secret")
"""The Basic login of the receivers the workbench's browser tests start, and that their `browser` sends."""


def browser_available() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    return bool(browser and shutil.which("chromedriver"))


@contextmanager
def chromium(
    auth: tuple[str, str] | None = None,
    width: int = 1280,
    height: int = 900,
    scale: float = 1.0,
    flags: tuple[str, ...] = (),
) -> Iterator[Any]:
    """A fresh headless Chromium (own profile directory) that sends `auth` as Basic credentials; `flags`
    are added to its command line (e.g. `--host-resolver-rules=MAP evil.test 127.0.0.1`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="aa-chromium-") as profile:
        options = webdriver.ChromeOptions()
        for flag in (
            *CHROMIUM_FLAGS,
            *flags,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
        ):
            options.add_argument(flag)
        options.add_argument(f"--force-device-scale-factor={scale}")
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        try:
            if auth is not None:
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                driver.execute_cdp_cmd("Network.enable", {})
                driver.execute_cdp_cmd(
                    "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
                )
            yield driver
        finally:
            driver.quit()


def console_errors(driver: Any) -> list[str]:
    """Console entries of level SEVERE since the last call (CSP violations and script errors included)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def visit_from_another_site(page: bytes, until: Callable[[Any], bool], auth: tuple[str, str]) -> str:
    """Open `page`, served from localhost (another site than a receiver's 127.0.0.1), in a Chromium that
    sends `auth` as a cached Basic login would, wait up to 10 s until `until(driver)` holds, and return
    the text of the page the browser shows then."""

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium(auth=auth) as driver:
            driver.get(f"http://localhost:{server.server_address[1]}/")
            deadline = time.monotonic() + 10
            while not until(driver) and time.monotonic() < deadline:
                time.sleep(0.1)
            return str(driver.find_element("tag name", "body").text)
    finally:
        server.shutdown()
