"""Fixtures of the browser tests: the API serving a stocked store over real HTTP (uvicorn in a thread), Debian's
Chromium driven headless by Playwright (no browser is downloaded), and where the screenshots go."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.store.database import connect, upgrade
from tests.staff import stocked_store

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "build" / "screenshots"
"""Where the tests save what the page looked like (kept out of git by ``build/`` in .gitignore)."""

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (Debian's chromium; scripts/ensure-services.sh installs it)"
)

_saved: list[Path] = []


@dataclass(frozen=True, slots=True)
class Served:
    """The running server: its base URL and the engine of its database."""

    url: str
    engine: Engine


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API on a free port over a stocked SQLite store, for the module's tests."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'silentgw.db'}"
    engine = connect(database_url)
    upgrade(engine)
    settings = stocked_store(engine, database_url)
    config = uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=0, log_level="warning",
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server stopped as it started"
        assert time.monotonic() < deadline, "the server did not start within 10 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    launched = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield launched
    finally:
        launched.close()


def screenshot(name: str) -> Path:
    """The path of screenshot ``name`` (a PNG under :data:`SCREENSHOTS`), listed in the run's summary."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    _saved.append(path)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are."""
    if _saved:
        terminalreporter.write_sep("-", f"screenshots of the staff page in {SCREENSHOTS}")
        for path in _saved:
            terminalreporter.write_line(f"  {path.name}")
