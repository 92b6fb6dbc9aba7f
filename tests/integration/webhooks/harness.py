"""The webhook tests' rig: a real receiver on a loopback port, and a gateway (dispatcher, webhook manager, the API over
uvicorn) on the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway import events
from silentgw.gateway.config import Settings
from silentgw.gateway.events import Event
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Role
from silentgw.gateway.webhooks import SIGNATURE_HEADER, DeliveryPolicy, WebhookManager, verify
from tests.keys import bearer

SOURCE = "urn:silentgw:test-store"
SECRET = "test-secret-0123456789abcdef"
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
QUICK = DeliveryPolicy(batch=40, park_after=1000, first_delay=0.02, max_delay=0.1, record_every=0.0)
"""Retries a few hundredths of a second apart, never parked, every success recorded."""


@dataclass
class Request:
    """A request the receiver answered: on which path and connection, how, and the events in it."""

    path: str
    port: int
    status: int
    content_type: str
    events: list[dict[str, Any]]


@dataclass
class Receiver:
    """An HTTP server on a loopback port taking webhooks as a subscriber would: it checks each request's signature
    with the secret of its path (401 when it does not hold), records the events, and answers 500 on the paths it is
    told to fail."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    fail_once: dict[str, int] = field(default_factory=dict)
    """Path: the number (from 1) of a request to that path to answer 500, once."""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def taken(self, path: str) -> list[dict[str, Any]]:
        """The events delivered to ``path`` (answered 200), in arrival order, repeats included."""
        with self.lock:
            return [e for r in self.requests if r.path == path and r.status == 200 for e in r.events]

    def ids(self, path: str) -> set[str]:
        return {e["id"] for e in self.taken(path)}

    def answered(self, path: str, status: int) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.path == path and r.status == status)

    def answer(self, path: str, port: int, headers: Any, body: bytes) -> int:
        secret = self.secrets.get(path)
        got: list[dict[str, Any]] = []
        if secret is None or not verify(secret, body, headers.get(SIGNATURE_HEADER, "")):
            status = 401
        elif path in self.failing or self.fail_once.get(path) == 1 + sum(1 for r in self.requests if r.path == path):
            status = 500
        else:
            status, got = 200, orjson.loads(body)
        with self.lock:
            self.requests.append(Request(path, port, status, headers.get("content-type", ""), got))
        return status


def handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.answer(self.path, self.client_address[1], self.headers, body)
            reply = b"ok" if status == 200 else b"receiver says no"
            self.send_response(status)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(uvicorn.Server):
    """Uvicorn, leaving the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port, on this event loop; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Gateway:
    """The running pieces a test talks to: the API's client, the dispatcher, the webhook manager."""

    api: httpx.AsyncClient
    engine: Engine
    dispatcher: Dispatcher | None

    def append(self, batch: Sequence[Event]) -> None:
        """Commit ``batch`` to the outbox, as the pipeline does, and wake the pumps."""
        with self.engine.begin() as conn:
            outbox.append(conn, batch)
        if self.dispatcher is not None:
            self.dispatcher.notify()

    async def create(self, url: str, *, types: Sequence[str] = (), secret: str | None = SECRET) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "types": list(types)}
        if secret is not None:
            body["secret"] = secret
        answer = await self.api.post("/webhooks", json=body)
        assert answer.status_code == 201, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def get(self, subscription_id: str) -> dict[str, Any]:
        answer = await self.api.get(f"/webhooks/{subscription_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


@contextlib.asynccontextmanager
async def running(
    engine: Engine, database_url: str, *, policy: DeliveryPolicy = QUICK, deliver: bool = True
) -> AsyncIterator[Gateway]:
    """The API over HTTP on ``engine``; with ``deliver``, the gateway's side too: a dispatcher whose webhook sinks a
    started manager keeps (the subscriptions in the table loaded first, as at a gateway's start)."""
    settings = Settings(database_url=database_url)
    key = bearer(engine, Role.INTEGRATOR)
    if not deliver:
        async with (
            serving(create_app(settings, engine=engine)) as base,
            httpx.AsyncClient(base_url=f"{base}/api/v1", headers=key) as api,
        ):
            yield Gateway(api, engine, None)
        return
    dispatcher = Dispatcher(engine, poll=0.05, backoff_cap=0.05)
    async with WebhookManager(engine, dispatcher, source=SOURCE, policy=policy) as manager:
        await manager.load()
        pumps = asyncio.create_task(dispatcher.run())
        app = create_app(settings, engine=engine, dispatcher=dispatcher, webhooks=manager)
        try:
            async with (
                serving(app) as base,
                httpx.AsyncClient(base_url=f"{base}/api/v1", headers=key) as api,
            ):
                yield Gateway(api, engine, dispatcher)
        finally:
            pumps.cancel()
            await asyncio.gather(pumps, return_exceptions=True)


async def until(check: Callable[[], bool | Awaitable[bool]], seconds: float = 20.0) -> None:
    """Wait for ``check`` to hold (it may be a coroutine function), or fail."""
    for _ in range(int(seconds / 0.02)):
        outcome = check()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def mixed(n: int, start: int = 0, *, subjects: int = 7) -> list[Event]:
    """``n`` events on a few subjects, a second apart: item movements, stock levels and devices going down."""
    made: list[Event] = []
    for i in range(start, start + n):
        time = T0 + dt.timedelta(seconds=i)
        if i % 3 == 0:
            made.append(events.device_status(f"reader-{i % subjects}", "down", time, "no answer"))
        elif i % 3 == 1:
            made.append(events.stock_changed(f"m{i}", gtin="00614141812345", location=f"shelf-{i % subjects}",
                                             quantity=i, time=time))  # fmt: skip
        else:
            item = f"(01)00614141812345(21){i % subjects}"
            made.append(events.item_event(f"m{i}", reason="moved", item=item, time=time, epc=None,
                                          gtin="00614141812345", from_location="backroom", to_location="shelf-1",
                                          zone=None))  # fmt: skip
    return made


def first_arrivals(taken: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event at its first arrival, in arrival order (what a receiver de-duplicating on ``id`` keeps)."""
    seen: set[str] = set()
    kept = []
    for event in taken:
        if event["id"] not in seen:
            seen.add(event["id"])
            kept.append(event)
    return kept


def assert_in_order_per_subject(taken: list[dict[str, Any]], sent: Sequence[Event]) -> None:
    """Per subject, the events as first received are in the order they were committed."""
    commit_order = {e.id: i for i, e in enumerate(sent)}
    by_subject: dict[str, list[int]] = {}
    for event in first_arrivals(taken):
        by_subject.setdefault(event["subject"], []).append(commit_order[event["id"]])
    assert by_subject, "nothing arrived"
    for subject, order in by_subject.items():
        assert order == sorted(order), subject
