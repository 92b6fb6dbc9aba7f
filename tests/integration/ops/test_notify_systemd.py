"""The task that speaks sd_notify for ``serve()``, beside a real uvicorn server, heard on a real notification socket:
READY=1 only once the API answers, WATCHDOG=1 every half of $WATCHDOG_USEC while the event loop runs (and not
while it hangs: that is what lets systemd restart a stuck gateway), STOPPING=1 when the server is told to stop."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from silentgw.cli.systemd import notify_systemd
from tests.integration.ops.notify_listener import Listener

pytestmark = pytest.mark.anyio

WATCHDOG_USEC = 400_000  # pings every 0.2 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@asynccontextmanager
async def serving(tmp_path: Path, **options: object) -> AsyncIterator[tuple[uvicorn.Server, Listener, str]]:
    """A uvicorn server on a free port with :func:`notify_systemd` beside it, and the socket it notifies."""
    port = free_port()
    app = Starlette(routes=[Route("/healthz", healthz)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    environ = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    with Listener(tmp_path / "notify") as listener:
        running = asyncio.create_task(server.serve())
        notifying = asyncio.create_task(notify_systemd(server, environ=environ, **options))  # type: ignore[arg-type]
        try:
            yield server, listener, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(asyncio.gather(running, notifying), 10)


async def test_ready_once_the_api_answers_pings_at_half_the_watchdog_and_stopping_at_the_end(tmp_path: Path) -> None:
    async with serving(tmp_path, status=lambda: "serving, 0 reads") as (server, listener, base):
        ready = await asyncio.to_thread(listener.wait_for, "READY", "1")
        assert server.started
        async with httpx.AsyncClient(base_url=base) as client:  # at READY the API answers at once
            assert (await client.get("/healthz")).text == "ok"
        assert ready.fields["STATUS"] == "serving, 0 reads"
        assert listener.messages[0] == ready  # nothing came before it
        await asyncio.sleep(1.3)
        pings = [m.at for m in listener.with_field("WATCHDOG", "1")]
        server.should_exit = True
        stopping = await asyncio.to_thread(listener.wait_for, "STOPPING", "1")

    assert 4 <= len(pings) <= 8, pings  # about 1.3 s / 0.2 s
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(0.1 < gap < 0.45 for gap in gaps), gaps  # 0.2 s, give or take a busy machine
    assert stopping.at > pings[-1]
    assert all(m.fields.get("STATUS") == "serving, 0 reads" for m in listener.with_field("WATCHDOG"))


async def test_a_hung_event_loop_sends_no_pings_so_systemd_would_restart_the_gateway(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, listener, _):
        await asyncio.to_thread(listener.wait_for, "READY", "1")
        await asyncio.sleep(0.5)
        hung_from = time.monotonic()
        time.sleep(1.2)  # a blocking call on the event loop: nothing else in the loop runs
        hung_until = time.monotonic()
        await asyncio.sleep(0.5)
        pings = [m.at for m in listener.with_field("WATCHDOG", "1")]

    during = [at for at in pings if hung_from + 0.05 < at < hung_until]
    assert during == []
    assert [at for at in pings if at < hung_from]  # it pinged before the hang
    assert [at for at in pings if at > hung_until]  # and again after it


async def test_an_unhealthy_gateway_withholds_its_pings(tmp_path: Path) -> None:
    healthy = True
    async with serving(tmp_path, healthy=lambda: healthy) as (_, listener, _):
        await asyncio.to_thread(listener.wait_for, "READY", "1")
        await asyncio.sleep(0.5)
        healthy = False
        turned = time.monotonic()
        await asyncio.sleep(1.0)
        pings = [m.at for m in listener.with_field("WATCHDOG", "1")]

    assert [at for at in pings if at < turned]
    assert not [at for at in pings if at > turned + 0.05]


async def test_without_a_notify_socket_the_task_ends_at_once(tmp_path: Path) -> None:
    server = uvicorn.Server(uvicorn.Config(Starlette(), host="127.0.0.1", port=free_port()))
    await asyncio.wait_for(notify_systemd(server, environ={"WATCHDOG_USEC": "400000"}), 1)
    assert not server.started
