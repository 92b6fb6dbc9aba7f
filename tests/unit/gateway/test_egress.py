"""The outbound policy: every spelling of an address read as a URL parser reads it, which addresses are inside, the
settings' allowance, and a request pinned to the address checked."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address, ip_network

import pytest

from silentgw.gateway.egress import DestinationRefused, Egress, IPAddress, Unresolved, host_address, refusal


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[0:0:0:0:0:ffff:7f00:1]", "::ffff:7f00:1"),
        ("example.com", None),
        ("localhost", None),
        ("0x7g.example", None),
    ],
)
def test_a_host_is_read_as_a_url_parser_reads_it(host: str, address: str | None) -> None:
    assert host_address(host) == (None if address is None else ip_address(address))


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "1.2.3.256", "0x100000000", "08.0.0.1", "[::g]"])
def test_a_host_that_looks_like_an_address_but_is_none_is_refused(host: str) -> None:
    with pytest.raises(DestinationRefused, match="not a valid"):
        host_address(host)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("2002:7f00:1::", "loopback"),  # 6to4
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("224.0.0.251", "multicast"),
        ("239.1.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_only_public_addresses_are_reachable_by_default(address: str, why: str | None) -> None:
    assert refusal(ip_address(address)) == why


def test_the_settings_allow_networks_and_nothing_more() -> None:
    egress = Egress(allow=(ip_network("10.20.0.0/16"), ip_network("127.0.0.1/32")))
    assert egress.refusal(ip_address("10.20.1.2")) is None
    assert egress.refusal(ip_address("127.0.0.1")) is None
    assert egress.refusal(ip_address("::ffff:127.0.0.1")) is None  # the mapped form of an allowed address
    assert egress.refusal(ip_address("10.21.0.1")) == "private"
    assert egress.refusal(ip_address("127.0.0.2")) == "loopback"
    assert egress.refusal(ip_address("::1")) == "loopback"
    assert egress.refusal(ip_address("169.254.169.254")) == "link-local"


def _names(**names: str | Sequence[str]) -> Egress:
    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        found = names[host]
        return [ip_address(a) for a in ([found] if isinstance(found, str) else found)]

    return Egress(resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://inside.test/hook",
        "http://mixed.test/hook",  # one address outside and one inside: refused
        "http://0x7f000001/hook",
        "http://[::ffff:a9fe:a9fe]/hook",
        "ftp://outside.test/hook",
        "file:///etc/passwd",
        "http:///hook",
    ],
)
def test_a_url_leading_inside_is_refused(url: str) -> None:
    egress = _names(**{"inside.test": "10.1.1.1", "mixed.test": ["93.184.215.14", "127.0.0.1"],
                       "outside.test": "93.184.215.14"})  # fmt: skip
    with pytest.raises(DestinationRefused):
        asyncio.run(egress.check(url))
    with pytest.raises(DestinationRefused):
        asyncio.run(egress.pin(url))


def test_a_name_that_does_not_resolve_is_taken_now_and_not_sent_to() -> None:
    egress = _names()
    asyncio.run(egress.check("https://not-yet.test/hook"))
    with pytest.raises(Unresolved):
        asyncio.run(egress.pin("https://not-yet.test/hook"))


def test_a_request_is_pinned_to_the_address_checked_and_keeps_the_name() -> None:
    pinned = asyncio.run(_names(**{"erp.test": "93.184.215.14"}).pin("https://erp.test:8443/hook?x=1"))
    assert str(pinned.url) == "https://93.184.215.14:8443/hook?x=1"
    assert pinned.headers == {"host": "erp.test:8443"}
    assert pinned.extensions == {"sni_hostname": "erp.test"}  # TLS checks the certificate against the name
    literal = asyncio.run(Egress().pin("http://[2606:4700::1111]/hook"))
    assert (str(literal.url), literal.headers, literal.extensions) == (
        "http://[2606:4700::1111]/hook",
        {"host": "[2606:4700::1111]"},
        {},
    )


def test_a_resolver_that_hangs_is_given_up_on() -> None:
    async def hangs(host: str, port: int) -> Sequence[IPAddress]:
        await asyncio.sleep(10)
        return [IPv4Address("93.184.215.14")]

    with pytest.raises(Unresolved):
        asyncio.run(Egress(resolver=hangs, timeout=0.01).pin("http://slow.test/"))
