"""Throttling: a client address that failed too often is held back for a while.

The policy (the settings' ``[access]`` section; defaults in brackets):

- **What counts**: a failed sign-in on the staff page, and a request to the API with a bad key (malformed, unknown
  or revoked: a 401 that carried a key). Successes do not count, nor requests with no key at all (they cost no
  lookup and guess nothing).
- **The limit**: an address with ``max_failures`` [10] failures within the last ``failure_window`` [60] seconds is
  answered 429 (problem+json from the API, the sign-in form from the page) with ``Retry-After``: the seconds until
  the oldest of those failures is older than the window. So at most that many tries a window, whatever the rate
  tried; ``max_failures = 0`` turns throttling off.
- **While held back** a key sent from that address is not looked up at all; only a key the API verified within the
  last seconds (its cache, ``api/auth.py``) still passes, so a busy client sharing the address with whoever is
  guessing keeps working. A page already signed in (a session) is not affected.
- **The client's address** is the socket's peer. ``X-Forwarded-For`` is believed only when the peer is one of
  ``trusted_proxies`` (none by default): the client is then the right-most address in it that is not a trusted
  proxy (what comes before was written by the client itself). An IPv6 client counts by its /64, since one host is
  usually given a whole one.
- **Memory is bounded**: at most :data:`CAPACITY` addresses are kept, each with at most ``max_failures`` times;
  past that the address whose last failure is the oldest is forgotten first, so a flood of addresses costs a fixed
  size (about 6 MB at the defaults, measured) and can only make the throttle forget earlier failures.

Failures are counted in the process's memory: a restart forgets them, and each API process counts its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.requests import Request

__all__ = ["CAPACITY", "Throttle", "Throttled", "client_address"]

CAPACITY = 10_000
"""Client addresses whose failures are remembered, at most."""

Network = IPv4Network | IPv6Network


class Throttled(Exception):
    """The client's address failed too often; it may try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class Throttle:
    """Recent failures per client address: a sliding window of their times, and a bound on the addresses kept."""

    def __init__(
        self,
        *,
        failures: int,
        window: float,
        capacity: int = CAPACITY,
        proxies: Sequence[str] = (),
    ) -> None:
        self.failures = failures
        self.window = window
        self.capacity = capacity
        self.proxies: tuple[Network, ...] = tuple(ip_network(p, strict=False) for p in proxies)
        self._failed: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()  # the page's sign-in counts from worker threads, the API on the event loop

    def __len__(self) -> int:
        return len(self._failed)

    def address(self, request: Request) -> str:
        """The client address ``request`` counts against."""
        peer = request.client.host if request.client is not None else ""
        return client_address(peer, request.headers.get("x-forwarded-for"), self.proxies)

    def wait(self, address: str, *, now: float | None = None) -> float | None:
        """Seconds until ``address`` may try again; None when it may now."""
        if self.failures == 0:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failed.get(address)
            if times is None or len(times) < self.failures:
                return None
            left = times[0] + self.window - now
        return left if left > 0 else None

    def fail(self, address: str, *, now: float | None = None) -> None:
        """Count a failure against ``address``."""
        if self.failures == 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failed.pop(address, None) or []
            times.append(now)
            del times[: -self.failures]  # only the last `failures` count (a list: a third of a deque's size)
            self._failed[address] = times  # the most recently failed last
            while len(self._failed) > self.capacity:
                self._failed.popitem(last=False)

    def check(self, address: str) -> None:
        """Raise :class:`Throttled` when ``address`` is held back."""
        wait = self.wait(address)
        if wait is not None:
            raise Throttled(wait)


def client_address(peer: str, forwarded: str | None, proxies: Sequence[Network]) -> str:
    """The address a request from ``peer`` with ``X-Forwarded-For: forwarded`` counts against (see the module)."""
    address = peer
    if forwarded and _within(peer, proxies):
        for hop in reversed(forwarded.split(",")):
            hop = hop.strip()
            if _ip(hop) is None:
                break  # not an address: what a proxy we trust would never write
            address = hop
            if not _within(hop, proxies):
                break
    ip = _ip(address)
    if ip is None:
        return address  # not an address (a test client's name, a Unix socket): counted as it is
    return str(ip) if ip.version == 4 else str(ip_network(f"{ip}/64", strict=False))


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    try:
        ip = ip_address(text)
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, IPv6Address) else None
    return mapped or ip


def _within(text: str, networks: Sequence[Network]) -> bool:
    ip = _ip(text)
    return ip is not None and any(ip in network for network in networks)
