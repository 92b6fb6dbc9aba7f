"""The outbound policy as an integrator meets it: URLs that lead inside the store's network are refused when
subscribed, whatever their spelling, unless the settings allow the network; a name that resolves inside by the time
of delivery (DNS rebinding) gets no request; and ``last_error`` says what failed, never what answered.

The policy does not depend on the database, so these run on SQLite alone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Sequence
from ipaddress import ip_address

import pytest
from sqlalchemy import Engine

from silentgw.gateway.egress import IPAddress, system_resolver
from silentgw.gateway.store import webhooks as store
from tests.integration.webhooks.harness import SAYS_NO, SECRET, Receiver, mixed, running, until

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

PROBLEM = "application/problem+json"
PUBLIC = "93.184.215.14"  # a global address; nothing here ever connects to it


class Names:
    """A resolver the test controls: each name's addresses, changeable at any time (as a DNS zone is); other names
    as the system resolves them."""

    def __init__(self, **names: str) -> None:
        self.names = dict(names)
        self.asked = 0

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.asked += 1
        if host not in self.names:
            return await system_resolver(host, port)
        return [ip_address(self.names[host])]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


async def test_urls_that_lead_inside_are_refused_when_subscribed_in_every_spelling(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    port = receiver.port
    inside = [
        f"http://127.0.0.1:{port}/hook",
        f"http://0x7f000001:{port}/hook",  # hexadecimal
        f"http://2130706433:{port}/hook",  # one decimal number
        f"http://0177.0.0.1:{port}/hook",  # octal
        f"http://127.1:{port}/hook",  # short form
        f"http://[::1]:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped IPv6
        f"http://[::ffff:a9fe:a9fe]:{port}/hook",  # the same, in hex: 169.254.169.254
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fe80::1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://[fd00::1]/hook",  # unique local
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",  # multicast
        "http://240.0.0.1/hook",  # reserved
        f"http://inside.test:{port}/hook",  # a name that resolves to a private address
        f"http://localhost:{port}/hook",  # the system resolves it to loopback
        f"ftp://{PUBLIC}/hook",
    ]
    names = Names(**{"inside.test": "10.9.8.7"})
    async with running(engine, database_url, allow=(), resolver=names) as gateway:
        refused = [await gateway.api.post("/webhooks", json={"url": url}) for url in inside]
        listed = (await gateway.api.get("/webhooks")).json()["items"]
    # The API's own policy, from the settings (no gateway in the process, so nothing is delivered).
    async with running(engine, database_url, deliver=False, allow=("127.0.0.1/32",)) as gateway:
        allowed = [await gateway.api.post("/webhooks", json={"url": f"http://{host}:{port}/hook"})
                   for host in ("0x7f000001", "[::ffff:127.0.0.1]", "localhost")]  # fmt: skip
        public = await gateway.api.post("/webhooks", json={"url": f"https://{PUBLIC}/hook"})
        still = await gateway.api.post("/webhooks", json={"url": "http://127.0.0.2/hook"})

    for url, answer in zip(inside, refused, strict=True):
        assert answer.status_code == 422, url
        assert answer.headers["content-type"] == PROBLEM
        problem = answer.json()
        assert problem["errors"][0]["field"] == "body.url"
        if not url.startswith("ftp:"):  # refused by the URL's validation: http and https only
            assert "may not reach" in problem["detail"], url
            assert "webhooks.allow_networks" in problem["detail"], url
    assert "loopback" in refused[1].json()["detail"]
    assert "link-local" in refused[8].json()["detail"]
    assert "shared" in refused[13].json()["detail"]
    assert "resolves to a private address" in refused[-3].json()["detail"]
    assert "resolves to a loopback address" in refused[-2].json()["detail"]  # localhost
    assert listed == []  # nothing was subscribed
    assert public.status_code == 201, public.text
    assert [a.status_code for a in allowed] == [201, 201, 201]
    assert still.status_code == 422  # the allowance is the one address, not all of loopback


async def test_a_name_that_resolves_inside_by_delivery_time_gets_no_request(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    names = Names(**{"hook.test": PUBLIC})  # public when subscribed ...
    async with running(engine, database_url, allow=(), resolver=names) as gateway:
        hook = await gateway.create(f"http://hook.test:{receiver.port}/hook")
        names.names["hook.test"] = "127.0.0.1"  # ... and then the zone points it at the gateway's own box
        gateway.append(mixed(3))

        async def refused() -> bool:
            return bool((await gateway.get(hook["id"]))["failures"] >= 2)

        await until(refused)
        shown = await gateway.get(hook["id"])

    assert receiver.requests == []  # no request was made, to the receiver on 127.0.0.1 or anywhere
    assert shown["last_error"].startswith("not sent: the host resolves to a loopback address")
    assert shown["backlog"] == 3  # kept, for when the name or the settings change


async def test_a_request_goes_to_the_address_checked_with_the_name_kept_in_host(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    names = Names(**{"hook.test": "127.0.0.1"})
    async with running(engine, database_url, allow=("127.0.0.1/32",), resolver=names) as gateway:
        hook = await gateway.create(f"http://hook.test:{receiver.port}/hook")
        gateway.append(mixed(3))
        await until(lambda: len(receiver.taken("/hook")) == 3)
        names.names["hook.test"] = "169.254.169.254"  # rebound to the metadata service
        gateway.append(mixed(2, start=3))

        async def refused() -> bool:
            return bool((await gateway.get(hook["id"]))["failures"] >= 1)

        await until(refused)
        shown = await gateway.get(hook["id"])

    assert {r.headers["host"] for r in receiver.requests} == {f"hook.test:{receiver.port}"}
    assert [r.status for r in receiver.requests] == [200]  # one request, verified; none after the rebinding
    assert shown["last_error"].startswith("not sent: the host resolves to a link-local address")


async def test_last_error_says_what_failed_never_what_answered_and_tells_no_ports_apart(
    engine: Engine, database_url: str, receiver: Receiver, closed_port: int
) -> None:
    receiver.secrets["/failing"] = SECRET
    receiver.failing.add("/failing")
    banner = await asyncio.start_server(_banner, "127.0.0.1", 0)
    banner_port = banner.sockets[0].getsockname()[1]
    async with running(engine, database_url, allow=("127.0.0.1/32",)) as gateway:
        failing = await gateway.create(receiver.url("/failing"))
        closed = await gateway.create(f"http://127.0.0.1:{closed_port}/hook")
        chatty = await gateway.create(f"http://127.0.0.1:{banner_port}/hook")
        gateway.append(mixed(2))

        async def all_failed() -> bool:
            return all([(await gateway.get(h["id"]))["failures"] >= 1 for h in (failing, closed, chatty)])

        await until(all_failed)
        errors = [(await gateway.get(h["id"]))["last_error"] for h in (failing, closed, chatty)]
    banner.close()
    await banner.wait_closed()

    # Subscriptions made before the policy (in the table, to inside addresses), delivered without the allowance:
    # an open port and a closed one read the same, and the open one is never sent a request.
    with engine.begin() as conn:
        before = [store.create(conn, url=url, secret=SECRET, types=(), description="made before the policy")
                  for url in (receiver.url("/open"), f"http://127.0.0.1:{closed_port}/hook")]  # fmt: skip
    async with running(engine, database_url, allow=()) as gateway:
        gateway.append(mixed(2, start=2))

        async def both_failed() -> bool:
            return all([(await gateway.get(s.id))["failures"] >= 1 for s in before])

        await until(both_failed)
        old = [(await gateway.get(s.id))["last_error"] for s in before]

    assert errors == ["HTTP 500", "could not connect", "not an HTTP answer"]
    assert not any(SAYS_NO.decode()[:20] in e or "SSH" in e for e in errors)
    assert old[0] == old[1]
    assert old[0].startswith("not sent: the host is a loopback address")
    assert not [r for r in receiver.requests if r.path == "/open"]


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A service that is not HTTP: it greets whoever writes to it, and closes."""
    await reader.read(1)
    writer.write(b"SSH-2.0-OpenSSH_9.2p1 internal-host-7\r\n")
    await writer.drain()
    writer.close()
