"""The throttle alone, on a clock of the test's: a sliding window of failures per client address, bounded in size."""

from __future__ import annotations

from ipaddress import ip_network

from silentgw.api.throttle import Throttle, client_address


def test_the_limit_holds_for_the_window_then_one_more_try_is_allowed() -> None:
    throttle = Throttle(failures=3, window=60.0, capacity=100)
    for t in (0.0, 10.0, 20.0):
        assert throttle.wait("a", now=t) is None
        throttle.fail("a", now=t)
    assert throttle.wait("a", now=21.0) == 39.0  # until the first failure is a minute old
    assert throttle.wait("b", now=21.0) is None
    assert throttle.wait("a", now=60.0) is None
    throttle.fail("a", now=60.0)
    assert throttle.wait("a", now=61.0) == 9.0  # now until the second one is


def test_no_flood_of_addresses_grows_it_past_its_capacity() -> None:
    throttle = Throttle(failures=2, window=60.0, capacity=100)
    for n in range(10_000):
        throttle.fail(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", now=float(n) / 1000)
    assert len(throttle) == 100


def test_zero_failures_turns_it_off() -> None:
    throttle = Throttle(failures=0, window=60.0)
    for _ in range(100):
        throttle.fail("a", now=0.0)
    assert throttle.wait("a", now=0.0) is None
    assert len(throttle) == 0


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    proxies = (ip_network("10.0.0.0/8"),)
    assert client_address("192.0.2.1", "203.0.113.9", ()) == "192.0.2.1"
    assert client_address("192.0.2.1", "203.0.113.9", proxies) == "192.0.2.1"
    assert client_address("10.0.0.1", "203.0.113.9", proxies) == "203.0.113.9"
    # the right-most address no trusted proxy added: what a client puts first is its own claim
    assert client_address("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.7", proxies) == "203.0.113.9"
    assert client_address("10.0.0.1", None, proxies) == "10.0.0.1"
    assert client_address("10.0.0.1", "garbage", proxies) == "10.0.0.1"
    # IPv6 clients count by their /64: one host holds a whole one
    assert client_address("2001:db8:1:2::1", None, ()) == client_address("2001:db8:1:2:ffff::9", None, ())
    assert client_address("2001:db8:1:2::1", None, ()) != client_address("2001:db8:1:3::1", None, ())
