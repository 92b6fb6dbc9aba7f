"""`silentgw run` as an operator runs it, for the fault tests: its own process on a settings file, an admin key from
`silentgw keys create`, the API to ask it what it knows, and SIGKILL or SIGTERM to stop it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = ["Gateway", "eventually"]

T = TypeVar("T")

STARTUP = 180.0
"""Seconds `silentgw run` may take to say it is ready: usually two, but on a loaded two-core box (the suite's other
processes) importing it alone has taken fifty. Waiting ends as soon as it is ready, or at once if it exits."""


def eventually(check: Callable[[], T], *, seconds: float, what: str, every: float = 0.1) -> T:
    """``check()`` once it returns something true, polled every ``every`` seconds; AssertionError naming ``what``
    (and the last value seen) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what} (last seen: {value!r})")
        time.sleep(every)


class Gateway:
    """One `silentgw run` process at a time on ``config``; its output goes to ``run.log`` beside it."""

    def __init__(self, config: Path, *, port: int) -> None:
        self.config = config
        self.dir = config.parent
        self.base = f"http://127.0.0.1:{port}"
        self.log = self.dir / "run.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._api: httpx.Client | None = None

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "silentgw", "--config", str(self.config), *args]

    def start(self) -> None:
        """Start it (with an admin key the first time) and wait until /readyz says it is ready."""
        if self._api is None:
            made = subprocess.run(self._command("keys", "create", "--role", "admin"), capture_output=True, text=True,
                                  cwd=self.dir, check=False)  # fmt: skip
            assert made.returncode == 0, f"silentgw keys create failed: {made.stdout}{made.stderr}"
            key = made.stdout.strip().splitlines()[-1]
            self._api = httpx.Client(base_url=self.base, timeout=10, headers={"Authorization": f"Bearer {key}"})
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self._command("run"), cwd=self.dir, stdout=out, stderr=subprocess.STDOUT)
        eventually(self._ready, seconds=STARTUP, what="silentgw run ready", every=0.05)

    def _ready(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"silentgw run exited:\n{self.tail()}"
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as a power cut or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(10) == -signal.SIGKILL

    def stop(self) -> int:
        """SIGTERM, and its exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"silentgw run did not stop on SIGTERM:\n{self.tail()}") from None

    def close(self) -> None:
        """Kill it if it still runs; close the API client."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._api is not None:
            self._api.close()

    def tail(self, lines: int = 40) -> str:
        """The last lines of its output (access log lines left out)."""
        if not self.log.exists():
            return ""
        said = [line for line in self.log.read_text(errors="replace").splitlines() if "uvicorn.access" not in line]
        return "\n".join(said[-lines:])

    # --- the API, as a user asks it ----------------------------------------------------------------------------

    @property
    def api(self) -> httpx.Client:
        """An HTTP client with the admin key."""
        assert self._api is not None, "start the gateway first"
        return self._api

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` (raising on a 4xx/5xx), its JSON."""
        answer = self.api.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged list."""
        cursor = None
        while True:
            page = self.get(path, limit=500, **params, **({"cursor": cursor} if cursor else {}))
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def stock(self) -> dict[tuple[str, str], int]:
        """GET /api/v1/stock: the levels per (GTIN, location)."""
        return {(lv["gtin"], lv["location"]): lv["quantity"] for lv in self.pages("/api/v1/stock")}

    def event_ids(self, *types: str, after: int = 0) -> set[str]:
        """The ids of the stored events (of ``types``, when given; committed after sequence number ``after``)."""
        found = self.pages("/api/v1/events", **({"type": list(types)} if types else {}))
        return {e["id"] for e in found if int(e["sequence"]) > after}

    def sales(self) -> list[frozenset[str]]:
        """The EPCs of each completed sale, as its event says."""
        sold = self.pages("/api/v1/events", type="silentgw.sale.completed")
        return sorted((frozenset(line["epc"].upper() for line in e["data"]["lines"]) for e in sold), key=sorted)

    def observations(self, device: str) -> int:
        """How many observations a device's driver has handed over (its health)."""
        return int(self.get(f"/api/v1/devices/{device}/health")["observations"])
