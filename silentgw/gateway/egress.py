"""Egress: which addresses the gateway's own requests (webhooks) may reach, and a request pinned to a checked one.

An integrator chooses a webhook's URL, and the gateway sits inside the store's network; left alone it would POST to
the box itself, the LAN or a cloud's metadata service for whoever holds an integrator key. So a destination is
refused when its host is, or resolves to, an address that is not public:

======================  ===========================================================================================
unspecified             ``0.0.0.0``, ``::``
loopback                ``127.0.0.0/8``, ``::1``
link-local              ``169.254.0.0/16`` (cloud metadata), ``fe80::/10``
multicast               ``224.0.0.0/4``, ``ff00::/8``
private                 RFC 1918, ``fc00::/7``, site-local ``fec0::/10``, documentation and benchmark ranges
shared                  ``100.64.0.0/10`` (carrier-grade NAT)
reserved                ``240.0.0.0/4``, the broadcast address, IPv6's reserved blocks
======================  ===========================================================================================

An IPv6 address carrying an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``)
is judged by the IPv4 address. A host is read as a URL parser reads it (WHATWG, as browsers and libc's
``inet_aton`` do), so ``0x7f000001``, ``2130706433``, ``0177.0.0.1`` and ``127.1`` are all ``127.0.0.1``. A name is
refused when any of its addresses is. The settings may allow networks beside the public ones (``[webhooks]
allow_networks``): an ERP on the LAN, a receiver on the same box.

The check is made when a URL is subscribed (:meth:`Egress.check`) and again before every request
(:meth:`Egress.pin`): the name is resolved, every address checked, and the request sent to the checked address (the
URL's host becomes it; ``Host`` and TLS's server name stay the name), so a name that resolves elsewhere meanwhile
(DNS rebinding) cannot lead a request inside. Only ``http`` and ``https`` are sent; redirects are never followed.

Errors::

    EgressError
     ├── DestinationRefused   the URL's host is, or resolves to, an address not allowed
     └── Unresolved           the name does not resolve (now: it may later)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

__all__ = [
    "DestinationRefused",
    "Egress",
    "EgressError",
    "IPAddress",
    "IPNetwork",
    "Pinned",
    "Resolver",
    "Unresolved",
    "host_address",
    "refusal",
    "system_resolver",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Resolves a name (and port) to its addresses; an :class:`OSError` when it does not resolve."""

_SCHEMES = {"http": 80, "https": 443}
_SHARED = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")


class EgressError(Exception):
    """Root of the egress errors: a destination the gateway will not send to, now."""


class DestinationRefused(EgressError):
    """The URL's host is, or resolves to, an address that is not allowed (or the URL is not one to send to)."""


class Unresolved(EgressError):
    """The URL's host name does not resolve (in time)."""


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` spells as a URL parser reads it (any IPv4 spelling, IPv6 with or without brackets), or
    None when it is a name; :class:`DestinationRefused` when it looks like an address but is not a valid one."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ip_address(bare)
        except ValueError:
            raise DestinationRefused(f"{host!r} is not a valid IPv6 address") from None
    parts = bare.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # a trailing dot
    if not parts or not _numeric(parts[-1]):
        return None  # a name (WHATWG: a host whose last label is not a number)
    numbers = [_number(part, host) for part in parts]
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise DestinationRefused(f"{host!r} is not a valid IPv4 address")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return IPv4Address(value)


def _numeric(label: str) -> bool:
    if label[:2].lower() == "0x":
        return all(c in "0123456789abcdefABCDEF" for c in label[2:])
    return label.isascii() and label.isdigit()


def _number(part: str, host: str) -> int:
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10)
    except ValueError:
        raise DestinationRefused(f"{host!r} is not a valid IPv4 address") from None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not public ("loopback", "private", ...), or None when it is."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_reserved:
        return "reserved"
    if address.is_private or (isinstance(address, IPv6Address) and (address.is_site_local or address in _NAT64_LOCAL)):
        return "private"
    return None if address.is_global else "reserved"


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DestinationRefused(f"not a URL to send to: {exc}") from None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host`` as the operating system resolves it (``getaddrinfo``, off the event loop)."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ip_address(info[4][0]) for info in found]


@dataclass(frozen=True, slots=True)
class Pinned:
    """A request's destination once checked: the URL with the checked address for host, and what keeps the name."""

    url: httpx.URL
    """The URL to send to: the original with its host replaced by the checked address."""
    headers: dict[str, str]
    """``Host``: the original ``host[:port]``."""
    extensions: dict[str, str]
    """``sni_hostname`` for TLS (the certificate is checked against the name, not the address)."""


@dataclass(frozen=True, slots=True)
class Egress:
    """The outbound policy: public addresses, and the networks ``allow`` beside them; names resolved by
    ``resolver`` within ``timeout`` seconds."""

    allow: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver
    timeout: float = 10.0

    def refusal(self, address: IPAddress) -> str | None:
        """Why the policy refuses ``address``, or None when it may be reached."""
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        if any(a in net for net in self.allow for a in (address, mapped) if a is not None and a.version == net.version):
            return None
        return refusal(address)

    async def check(self, url: str) -> None:
        """Refuse (:class:`DestinationRefused`) a URL the gateway would not send to; a name that does not resolve
        now is taken (it is checked again before every request)."""
        try:
            await self.addresses(_parse(url))
        except Unresolved:
            return

    async def pin(self, url: str) -> Pinned:
        """Resolve ``url``'s host, check every address, and say how to send to the first one (only to it)."""
        parsed = _parse(url)
        address = (await self.addresses(parsed))[0]
        headers = {"host": parsed.netloc.decode("ascii")}
        literal = host_address(parsed.raw_host.decode("ascii")) is not None
        extensions = {} if literal else {"sni_hostname": parsed.raw_host.decode("ascii")}
        host = str(address.ipv4_mapped or address) if isinstance(address, IPv6Address) else str(address)
        return Pinned(url=parsed.copy_with(host=host), headers=headers, extensions=extensions)

    async def addresses(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses ``url`` leads to, every one allowed; :class:`DestinationRefused` or :class:`Unresolved`."""
        if url.scheme not in _SCHEMES:
            raise DestinationRefused(f"only http and https URLs are sent to, not {url.scheme or 'this'!r}")
        host = url.raw_host.decode("ascii")
        if not host:
            raise DestinationRefused("the URL has no host")
        literal = host_address(host)
        if literal is not None:
            found: Sequence[IPAddress] = [literal]
        else:
            try:
                async with asyncio.timeout(self.timeout):
                    found = await self.resolver(host, url.port or _SCHEMES[url.scheme])
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise Unresolved(f"{host!r} does not resolve") from exc
            if not found:
                raise Unresolved(f"{host!r} does not resolve")
        for address in found:
            why = self.refusal(address)
            if why is not None:
                what = "is" if literal is not None else "resolves to"
                raise DestinationRefused(
                    f"the host {what} a {why} address, which webhooks may not reach "
                    "(unless an admin allows its network in the setting webhooks.allow_networks)"
                )
        return list(found)
