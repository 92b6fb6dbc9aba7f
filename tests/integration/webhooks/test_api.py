"""The webhook subscriptions API over HTTP, on SQLite and PostgreSQL: the secret shown once, lists in creation order
a page at a time, and problem+json for what cannot be done."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.webhooks.harness import LEGACY_SECRET, Receiver, mixed, running, until

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


async def test_the_secret_is_shown_when_created_and_never_again(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    async with running(engine, database_url) as gateway:
        generated = await gateway.create(receiver.url("/generated"), secret=None)
        given = await gateway.create(receiver.url("/given"), types=["silentgw.device.*"], secret=LEGACY_SECRET)
        reads = [
            await gateway.api.get(f"/webhooks/{generated['id']}"),
            await gateway.api.get(f"/webhooks/{given['id']}"),
            await gateway.api.get("/webhooks"),
            await gateway.api.post(f"/webhooks/{given['id']}/resume"),
            await gateway.api.post(f"/webhooks/{given['id']}/replay", json={"after_seq": 0}),
        ]
        # Each subscription's requests are signed with its secret, the generated one too.
        receiver.secrets.update({"/generated": generated["secret"], "/given": LEGACY_SECRET})
        gateway.append(mixed(3))
        await until(lambda: len(receiver.taken("/generated")) == 3 and len(receiver.taken("/given")) == 1)

    assert generated["secret"].startswith("whsec_")
    assert len(base64.b64decode(generated["secret"].removeprefix("whsec_"), validate=True)) == 32
    assert given["secret"] == LEGACY_SECRET
    assert all(r.status_code == 200 for r in reads)
    for read in reads:
        assert generated["secret"] not in read.text
        assert LEGACY_SECRET not in read.text
        assert "secret" not in read.text
    assert {(r.path, r.status) for r in receiver.requests} == {("/generated", 200), ("/given", 200)}


async def test_a_token_in_the_url_is_write_only(engine: Engine, database_url: str) -> None:
    async with running(engine, database_url, deliver=False) as gateway:
        made = await gateway.create("https://erp.example/hook?tenant=7&token=s3cr3t-t0ken")
        reads = [await gateway.api.get(f"/webhooks/{made['id']}"), await gateway.api.get("/webhooks")]

    assert all(r.status_code == 200 for r in reads)
    for read in reads:
        assert "s3cr3t-t0ken" not in read.text
    assert reads[0].json()["url"] == "https://erp.example/hook?tenant=7&token=**********"


async def test_the_list_is_in_creation_order_a_page_at_a_time(engine: Engine, database_url: str) -> None:
    async with running(engine, database_url, deliver=False) as gateway:
        made = []
        for i in range(5):
            made.append((await gateway.create(f"https://receiver-{i}.example/hook"))["id"])
            await asyncio.sleep(0.002)  # ids carry the creation millisecond
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await gateway.api.get("/webhooks", params=params)).json()
            pages.append([item["id"] for item in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        shown = (await gateway.api.get(f"/webhooks/{made[0]}")).json()

    assert pages == [made[0:2], made[2:4], made[4:]]
    assert shown["url"] == "https://receiver-0.example/hook"
    assert (shown["types"], shown["state"], shown["failures"], shown["backlog"]) == ([], "active", 0, 0)


URL = "https://erp.example/hook"
BAD_INPUT = [
    ("POST", "/webhooks", {"url": "ftp://erp.example/hook"}, "body.url"),
    ("POST", "/webhooks", {"url": "not a url"}, "body.url"),
    ("POST", "/webhooks", {"url": "https://user:password@erp.example/hook"}, "body.url"),
    ("POST", "/webhooks", {"url": URL, "secret": "too short"}, "body.secret"),
    ("POST", "/webhooks", {"url": URL, "secret": "whsec_AAAAAAAAAAAAAAAAAAAAAA=="}, "body.secret"),  # 16 bytes
    ("POST", "/webhooks", {"url": URL, "types": ["silentgw.*.moved"]}, "body.types.0"),
    ("POST", "/webhooks", {"url": URL, "types": ["silentgw.sale.completed", "silentgw.sale.completed"]}, "body.types"),
    ("POST", "/webhooks", {"url": URL, "colour": "red"}, "body.colour"),
    ("POST", "/webhooks", {"types": ["silentgw.item.*"]}, "body.url"),
    ("POST", "/webhooks/{id}/replay", {}, "body"),
    ("POST", "/webhooks/{id}/replay", {"after_seq": 3, "since": "2026-11-24T09:00:00Z"}, "body"),
    ("POST", "/webhooks/{id}/replay", {"after_seq": -1}, "body.after_seq"),
    ("POST", "/webhooks/{id}/replay", {"since": "2026-11-24T09:00:00"}, "body.since"),  # no time zone
    ("GET", "/webhooks?cursor=not-a-cursor", None, "query.cursor"),
    ("GET", "/webhooks?state=sleeping", None, "query.state"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_INPUT)
async def test_bad_input_is_a_422_problem_naming_the_field(
    engine: Engine, database_url: str, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    async with running(engine, database_url, deliver=False) as gateway:
        hook = await gateway.create(URL)
        answer = await gateway.api.request(method, path.format(id=hook["id"]), json=body)
        listed = (await gateway.api.get("/webhooks")).json()

    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert [item["id"] for item in listed["items"]] == [hook["id"]]  # nothing was created or changed


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/webhooks/{id}", None),
        ("DELETE", "/webhooks/{id}", None),
        ("POST", "/webhooks/{id}/resume", None),
        ("POST", "/webhooks/{id}/replay", {"after_seq": 0}),
    ],
)
async def test_an_unknown_subscription_is_a_404_problem(
    engine: Engine, database_url: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    async with running(engine, database_url) as gateway:
        deleted = await gateway.create(URL)
        assert (await gateway.api.delete(f"/webhooks/{deleted['id']}")).status_code == 204
        answer = await gateway.api.request(method, path.format(id=deleted["id"]), json=body)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert deleted["id"] in answer.json()["detail"]
