"""The staff page over HTTP on SQLite and PostgreSQL: signing in with a key to a session kept in a cookie that only
the page reads, forms from other sites refused, restock steps for operators only (with what happened said on the
next page), the item finder's answers to unknown and malformed EPCs, everything escaped, and device health when the
gateway runs in the process. The browser test (tests/browser) drives the same page in Chromium."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from silentgw.api import create_app
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import run_gateway
from silentgw.gateway.config import Settings
from silentgw.gateway.store import keys
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import RestockRequest, RestockState, Role
from silentgw.gateway.transitions import Arrived
from tests.keys import bearer
from tests.staff import MILK, TEE_M, stocked_store
from tests.tags import at, tag
from tests.unit.gateway.test_app import CountingReader


def key(engine: Engine, role: Role) -> str:
    return bearer(engine, role)["Authorization"].removeprefix("Bearer ")


def signed_in(client: TestClient, engine: Engine, role: Role) -> None:
    response = client.post("/login", data={"key": key(engine, role)}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def state(engine: Engine) -> RestockState:
    with engine.connect() as conn:
        return RestockState(conn.execute(select(RestockRequest.state)).scalar_one())


@pytest.fixture
def page(engine: Engine, database_url: str) -> TestClient:
    return TestClient(create_app(stocked_store(engine, database_url), engine=engine))


def test_a_key_signs_the_page_in_and_only_the_page(page: TestClient, engine: Engine) -> None:
    form = page.get("/")
    assert form.status_code == 200
    assert 'name="key"' in form.text
    assert "Content-Security-Policy" in form.headers
    wrong = page.post("/login", data={"key": "sgw_000000000000_nope"})
    assert wrong.status_code == 401
    assert "That key is not valid" in wrong.text
    assert page.post("/login", content=b'{"key": "x"}', headers={"content-type": "application/json"}).status_code == 401

    response = page.post("/login", data={"key": key(engine, Role.STAFF)}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert re.search(r"silentgw_session=[\w-]{40,}", cookie)  # a session's id (tests/.../test_page_sessions.py)
    assert all(part in cookie for part in ("HttpOnly", "SameSite=strict", "Path=/"))
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    shown = page.get("/")
    assert "Low stock and restock" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert page.get("/api/v1/stock").status_code == 401  # the API never reads the cookie
    assert "/" not in page.get("/openapi.json", headers=bearer(engine)).json()["paths"]

    page.post("/logout")
    assert 'name="key"' in page.get("/").text


def test_a_revoked_key_signs_the_browser_out(page: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        key_id, secret = keys.create(conn, role=Role.STAFF, name="leaving")
    page.post("/login", data={"key": secret})
    with engine.begin() as conn:
        keys.revoke(conn, key_id)
    response = page.get("/")
    assert "no longer valid" in response.text
    assert 'silentgw_session=""' in response.headers["set-cookie"]


def test_forms_from_another_site_are_refused(page: TestClient, engine: Engine) -> None:
    secret = key(engine, Role.OPERATOR)
    elsewhere = page.post("/login", data={"key": secret}, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert "silentgw_session" not in elsewhere.headers.get("set-cookie", "")
    marked = page.post("/login", data={"key": secret}, headers={"Sec-Fetch-Site": "cross-site"})
    assert marked.status_code == 403
    same = page.post("/login", data={"key": secret}, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303


def test_operators_approve_and_cancel_restock_and_staff_may_not(page: TestClient, engine: Engine) -> None:
    with engine.connect() as conn:
        request_id = conn.execute(select(RestockRequest.id)).scalar_one()
    assert page.post(f"/ui/restock/{request_id}/approve").status_code == 401  # not signed in
    signed_in(page, engine, Role.STAFF)
    staff = page.get("/")
    assert re.search(r"<button type=\"submit\" disabled>Approve</button>", staff.text)
    refused = page.post(f"/ui/restock/{request_id}/approve")
    assert refused.status_code == 403
    assert state(engine) is RestockState.PROPOSED

    signed_in(page, engine, Role.OPERATOR)
    assert page.post(f"/ui/restock/{request_id}/order").status_code == 404
    approved = page.post(f"/ui/restock/{request_id}/approve", follow_redirects=False)
    assert (approved.status_code, approved.headers["location"]) == (303, "/#restock")
    assert state(engine) is RestockState.APPROVED
    shown = page.get("/")
    assert f"Approved the restock request for 7 of {MILK.gtin} at aisle-1." in shown.text
    refilled = SqlStockLedger(engine)
    refilled.apply([Arrived(tag(MILK, n), "shelf-1a", at(30 + n)) for n in range(20, 25)], refilled.zones())
    filled = page.get("/")  # the request is still open, its product no longer low: it is named all the same
    assert filled.status_code == 200
    section = filled.text.split('id="restock"')[1].split("</section>")[0]
    assert "Whole milk" not in section.split("Open restock requests")[0]  # not low any more
    assert MILK.name in section.split("Open restock requests")[1]
    assert "Approved the restock request" not in page.get("/").text  # said once
    again = page.post(f"/ui/restock/{request_id}/approve")
    assert "Not done: a request that is approved cannot be approved." in again.text
    gone = page.post("/ui/restock/no-such-request/approve")
    assert "That restock request no longer exists." in gone.text
    page.post(f"/ui/restock/{request_id}/cancel")
    assert state(engine) is RestockState.CANCELLED
    assert "No open restock requests." in page.get("/").text


def test_searches_and_the_item_finder_answer_in_words(page: TestClient, engine: Engine) -> None:
    signed_in(page, engine, Role.STAFF)
    levels = page.get("/", params={"q": "APP-004"}).text  # a SKU
    assert levels.count(f"<code>{TEE_M.gtin}</code>") == 2
    assert "Organic cotton tee S" not in levels
    found = page.get("/", params={"gtin": MILK.gtin, "serial": "3"}).text
    assert "shelf-1a" in found
    assert "commissioned" in found
    unknown = page.get("/", params={"epc": tag(MILK, 999)})
    assert unknown.status_code == 200
    assert f"No item with EPC {tag(MILK, 999)} has been seen here." in unknown.text
    assert "not an EPC this gateway can read" in page.get("/", params={"epc": "30XYZ"}).text
    assert "A GTIN has 8 to 14 digits." in page.get("/", params={"gtin": "12ab", "serial": "1"}).text
    hostile = page.get("/", params={"q": "<script>alert(1)</script>", "epc": '"><img src=x onerror=alert(1)>'}).text
    assert "<script>alert(1)" not in hostile
    assert "<img src=x" not in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile


@pytest.mark.anyio
async def test_device_health_shows_when_the_gateway_runs_here(engine: Engine) -> None:
    settings = Settings.model_validate({"devices": [{"id": "r0", "kind": "reader", "driver": {"kind": "counting"}}]})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader})) as gateway:
        app = create_app(settings, gateway=gateway, engine=engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            await client.post("/login", data={"key": key(engine, Role.STAFF)})
            text = ""
            for _ in range(200):
                text = (await client.get("/")).text
                if "3 / 0" in text:
                    break
                await asyncio.sleep(0.01)
    assert "<strong>r0</strong>" in text
    assert '<span class="state up">up</span>' in text
    assert "No gateway in this process" not in text
