"""Request bodies over real HTTP (uvicorn on a loopback port, raw sockets), on SQLite and PostgreSQL: the key is
checked before a body is read, and a body past ``api.max_body_bytes`` is refused, announced or not, as problem+json,
without the API waiting for (or holding) what it will not take."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from silentgw.gateway.store.models import Role
from tests.integration.webhooks.harness import serving
from tests.keys import bearer

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024
HUGE = 218 * 1024 * 1024
"""What a client announced in the report: 218 MB."""
PRODUCT = b'{"gtin": "00614141812349", "sku": "A-1", "name": "Tea", "price": "2.50", "currency": "EUR"}'


@contextlib.asynccontextmanager
async def api(engine: Engine, database_url: str) -> AsyncIterator[int]:
    """The API with a 64 KiB bound, served on a loopback port; the port."""
    settings = Settings(database_url=database_url, api={"max_body_bytes": LIMIT})
    async with serving(create_app(settings, engine=engine)) as base:
        yield int(base.rsplit(":", 1)[1])


async def exchange(port: int, head: str, body: Iterable[bytes] = ()) -> tuple[int, dict[str, str], Any]:
    """Send ``head`` and then ``body`` (as much of it as the server reads) and read the answer; its status, headers
    and JSON body. A server still waiting for the body fails the test by the timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        with contextlib.suppress(ConnectionError):
            for part in body:
                writer.write(part)
                await asyncio.wait_for(writer.drain(), 5)
        top = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = top.decode().strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        content = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
        if headers.get("connection") == "close":  # and the server does close it (a reset, if it left data unread)
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return int(status_line.split()[1]), headers, orjson.loads(content)


def post(path: str, key: dict[str, str], **headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: gateway", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in {**key, **headers}.items()]
    return "\n".join(lines) + "\n"


async def test_a_body_without_a_valid_key_is_refused_before_it_is_read(engine: Engine, database_url: str) -> None:
    # 218 MB announced and a few bytes sent: the answer comes without the API waiting for the rest.
    async with api(engine, database_url) as port:
        none = await exchange(port, post("/api/v1/products", {}, **{"Content-Length": str(HUGE)}), [b"{" * 100])
        bad_key = {"Authorization": "Bearer sgw_not_a_key"}
        unknown = await exchange(port, post("/epcis/events", bad_key, **{"Content-Length": str(HUGE)}), [b"{"])
        chunked = await exchange(port, post("/api/v1/orders", {}, **{"Transfer-Encoding": "chunked"}), [b"1\r\n{\r\n"])

    for status, headers, problem in (none, unknown, chunked):
        assert status == 401
        assert headers["content-type"] == "application/problem+json"
        assert headers["www-authenticate"] == 'Bearer realm="silentgw"'
        assert problem["status"] == 401
    assert "An API key is needed" in none[2]["detail"]
    assert "not valid" in unknown[2]["detail"]


async def test_a_body_past_the_bound_is_a_413_problem_announced_or_not(engine: Engine, database_url: str) -> None:
    key = bearer(engine, Role.ADMIN)
    async with api(engine, database_url) as port:
        announced = await exchange(port, post("/api/v1/products", key, **{"Content-Length": str(HUGE)}), [b"{"])
        # chunked, never ending: counted as it streams and cut off past the bound
        chunk = b"%x\r\n%s\r\n" % (4096, b" " * 4096)
        streamed = await exchange(port, post("/api/v1/products", key, **{"Transfer-Encoding": "chunked"}),
                                  [chunk] * (3 * LIMIT // 4096))  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=key) as client:
            within = await client.post("/api/v1/products", content=PRODUCT.replace(b"Tea", b"T" * 60_000),
                                       headers={"content-type": "application/json"})  # fmt: skip
            made = await client.post("/api/v1/products", content=PRODUCT, headers={"content-type": "application/json"})
            # a client that writes its whole body before it reads still gets the answer (the API lingers a little)
            plain = await client.post("/api/v1/products", content=b" " * (8 * LIMIT),
                                      headers={"content-type": "application/json"})  # fmt: skip

    for status, headers, problem in (announced, streamed):
        assert status == 413
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        assert problem["type"] == "urn:silentgw:problem:too-large"
        assert str(LIMIT) in problem["detail"]
    # a body within the bound is read and validated as ever (a name longer than 200 is the field's fault)
    assert within.status_code == 422
    assert within.json()["errors"][0]["field"] == "body.name"
    assert made.status_code == 201
    assert (plain.status_code, plain.json()["status"]) == (413, 413)


async def test_a_key_of_the_wrong_role_is_still_refused_by_the_route(engine: Engine, database_url: str) -> None:
    async with api(engine, database_url) as port:
        head = post("/api/v1/products", bearer(engine, Role.STAFF), **{"Content-Length": str(len(PRODUCT))})
        staff = await exchange(port, head + "Connection: close\n", [PRODUCT])
    assert staff[0] == 403
    assert staff[2]["status"] == 403
