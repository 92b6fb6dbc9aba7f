"""Members' personal data on SQLite and PostgreSQL: only keys with the personal_data permission (admin, privacy) read
names, emails, phones, birthdays and cards; a member's data is exported whole; an erased member is in no table,
event, export or log line afterwards, while stock, sales totals and the other members' scores stay as they were;
deleting a member with sales points to erasing; consents are set through the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import socket
from typing import Any

import httpx
import orjson
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, func, insert, select

from silentgw.api import create_app
from silentgw.api.app import guarded_routes
from silentgw.api.auth import roles_of
from silentgw.api.routes.members import MemberOut
from silentgw.api.schemas import PageOut
from silentgw.cli.run import api_server
from silentgw.gateway import checkout, events
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.store import deadletters, outbox
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Member, Role, Sale, StockLevel, StockMovement, UnknownEpc
from silentgw.gateway.store.sales import SqlSales
from silentgw.simulator.demo_store import DEMO_MEMBERS, DEMO_PRODUCTS
from tests.integration.api.test_stock import stocked
from tests.keys import bearer
from tests.tags import tag

API = "/api/v1/members"
TEE, MILK = DEMO_PRODUCTS[14], DEMO_PRODUCTS[0]
NUMBER = "M-ADA-1815"
UHF_CARD = "E28011606000020A1DA11815"
ADA = {
    "number": NUMBER, "name": "Augusta Ada King", "email": "ada.king@analytical.example", "phone": "+44 20 1815 1210",
    "birthday": "1815-12-10", "marketing_consent": True, "tracking_consent": True,
    "cards": [{"kind": "em4100", "value": "0A18151210"}, {"kind": "epc", "value": UHF_CARD},
              {"kind": "barcode", "value": "ADA-BARCODE-1843"}],
}  # fmt: skip
PERSONAL = ("name", "email", "phone", "birthday", "cards")
SEES = {Role.ADMIN, Role.PRIVACY}


def secrets_of(member: dict[str, Any]) -> list[str]:
    """The personal values a member's record holds (name, email, phone, birthday, card ids)."""
    return [
        member["name"],
        member["email"],
        member["phone"],
        member["birthday"],
        *(c["value"] for c in member["cards"]),
    ]


@pytest.fixture
def keys(engine: Engine) -> dict[Role, dict[str, str]]:
    return {role: bearer(engine, role) for role in Role}


def member_routes() -> set[tuple[str, str]]:
    """Every operation whose answer holds members (a member, or a page of them)."""
    returning = {MemberOut, PageOut[MemberOut]}
    return {
        (method, full)
        for full, route in guarded_routes()
        if isinstance(route, APIRoute) and route.response_model in returning
        for method in route.methods or ()
    }


def test_only_keys_with_personal_data_read_names_emails_phones_birthdays_and_cards(
    client: TestClient, keys: dict[Role, dict[str, str]]
) -> None:
    assert client.post(API, json=ADA).status_code == 201
    allowed = {(m, f): roles_of(r) for f, r in guarded_routes() for m in r.methods or ()}
    for role, key in keys.items():
        enrolled = {**ADA, "number": f"N-{role}", "email": f"{role}@example.org", "cards": []}
        answers = {
            ("GET", f"{API}"): client.get(API, headers=key),
            ("GET", f"{API}/{{number}}"): client.get(f"{API}/{NUMBER}", headers=key),
            ("PATCH", f"{API}/{{number}}"): client.patch(f"{API}/{NUMBER}", json={}, headers=key),
            ("POST", f"{API}"): client.post(API, json=enrolled, headers=key),
        }
        # Every operation that returns members is here, so a new one cannot leak what this test does not look at.
        assert set(answers) == member_routes()
        for (method, path), answer in answers.items():
            if role not in allowed[(method, path)]:
                assert answer.status_code == 403, (method, path, role)
                continue
            assert answer.status_code in (200, 201), (method, path, role)
            body = answer.json()
            members = body.get("items", [body])
            assert {"number", "points", "segment", "marketing_consent", "tracking_consent"} <= members[0].keys()
            if role in SEES:
                shown = next(m for m in members if m["number"] in (NUMBER, enrolled["number"]))
                assert all(shown[f] for f in PERSONAL if f != "cards" or method != "POST"), (method, path, role)
            else:
                assert all(m[f] is None for m in members for f in PERSONAL), (method, path, role)
                assert not any(s in answer.text for s in secrets_of(ADA)), (method, path, role)
    # Nor does a search tell a key without the permission whether someone is a member.
    for role, key in keys.items():
        by_name = client.get(API, params={"q": "Augusta"}, headers=key).json()["items"]
        assert [m["number"] for m in by_name if m["number"] == NUMBER] == ([NUMBER] if role in SEES else []), role
        by_number = client.get(API, params={"q": "ADA-18"}, headers=key).json()["items"]
        assert [m["number"] for m in by_number] == [NUMBER], role


def test_the_privacy_role_exports_erases_and_sets_consents_and_the_others_may_not(
    client: TestClient, keys: dict[Role, dict[str, str]]
) -> None:
    assert client.post(API, json={"number": "M-2", "name": "Bob"}).json()["marketing_consent"] is False  # none presumed
    privacy = keys[Role.PRIVACY]
    changed = client.patch(f"{API}/M-2", json={"marketing_consent": True, "tracking_consent": None}, headers=privacy)
    assert (changed.json()["marketing_consent"], changed.json()["tracking_consent"]) == (True, False)
    for role in set(Role) - SEES:
        assert client.get(f"{API}/M-2/export", headers=keys[role]).status_code == 403
        assert client.post(f"{API}/M-2/erase", headers=keys[role]).status_code == 403
    assert client.get(f"{API}/M-2/export", headers=privacy).json()["member"]["name"] == "Bob"
    assert client.post(f"{API}/NOBODY/erase", headers=privacy).status_code == 404


def sell(sales: SqlSales, number: str | None, serials: list[int], closed: dt.datetime) -> str:
    epcs = tuple(sorted(tag(TEE, s) for s in serials))
    decoded = [decode(e) for e in epcs]
    sale = checkout.Sale(checkout.sale_id("checkout-1", closed), number, epcs, closed, "checkout-1",
                         closed - dt.timedelta(minutes=1))  # fmt: skip
    sales.record(sale, prices=sales.prices(d for d in decoded if isinstance(d, Epc)))
    return sale.id


def everything(engine: Engine) -> list[tuple[str, str]]:
    """Every text and JSON value in every table, as (table, text)."""
    meta = MetaData()
    meta.reflect(engine)
    found: list[tuple[str, str]] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, str):
                        found.append((table.name, value))
                    elif isinstance(value, dict | list):
                        found.append((table.name, orjson.dumps(value).decode()))
    return found


def figures(engine: Engine, sales: SqlSales, today: dt.date) -> dict[str, Any]:
    """Stock, sales totals and every other member's value: what erasing must not change."""
    with engine.connect() as conn:
        stock = sorted(conn.execute(select(StockLevel.product_id, StockLevel.location_id, StockLevel.quantity)).all())
        movements = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
        s = Sale.__table__.c
        totals = conn.execute(select(func.count(), func.sum(s.total), func.sum(s.points_awarded))).one()
        by_sale = sorted(conn.execute(select(s.id, s.total, s.points_awarded, s.member_id.is_(None))).all())
    others = {n: v for n, v in sales.values(today).items() if n != NUMBER and not n.startswith("erased-")}
    return {"stock": stock, "movements": movements, "totals": tuple(totals), "sales": by_sale, "others": others}


def test_an_erased_member_is_in_no_table_event_export_or_log_line_and_no_figure_moves(
    client: TestClient, engine: Engine, keys: dict[Role, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    settings = stocked(engine)
    assert client.post(API, json=ADA).status_code == 201
    sales = SqlSales(engine, timezone=settings.site.timezone)
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    bob, cy = DEMO_MEMBERS[0][0], DEMO_MEMBERS[1][0]
    ada_sales = [sell(sales, NUMBER, [0], now - dt.timedelta(days=9)), sell(sales, NUMBER, [5, 6], now)]
    sell(sales, bob, [7], now - dt.timedelta(days=2))
    sell(sales, cy, [8, 9], now - dt.timedelta(days=40))
    sell(sales, None, [10], now - dt.timedelta(days=1))
    # What older versions, or other paths, left behind: a birthday offer with the year, a card in an event, a dead
    # letter naming the member, and the UHF card seen as an unknown tag.
    with engine.begin() as conn:
        outbox.append(conn, [
            events.Event(events.event_id("silentgw.member.offer", "bd"), "silentgw.member.offer", NUMBER, now,
                         {"member": NUMBER, "rule": "birthday", "because": {"birthday": ADA["birthday"]}}),
            events.Event(events.event_id("silentgw.card.seen", "c"), "silentgw.card.seen", "checkout-1", now,
                         {"card": "0A18151210", "note": f"card of {ADA['name']}"}),
        ])  # fmt: skip
        deadletters.set_aside(conn, source="pipeline", kind="sale", payload={"member": NUMBER, "items": [UHF_CARD]},
                              reason=f"sale of {NUMBER} refused", trace=f"... {ADA['email']} ...")  # fmt: skip
        conn.execute(insert(UnknownEpc).values(epc=UHF_CARD, key=None, reason="not_sgtin", first_seen_at=now,
                                                          last_seen_at=now, times_seen=3))  # fmt: skip
    privacy = keys[Role.PRIVACY]
    exported = client.get(f"{API}/{NUMBER}/export", headers=privacy).json()
    assert exported["member"]["email"] == ADA["email"]
    assert {c["value"] for c in exported["cards"]} == set(secrets_of(ADA)[4:])
    assert [s["id"] for s in exported["sales"]] == ada_sales
    assert [len(s["lines"]) for s in exported["sales"]] == [1, 2]
    assert exported["figures"]["purchases"] == 2
    assert {e["type"] for e in exported["events"]} == {"silentgw.sale.completed", "silentgw.member.offer",
                                                        "silentgw.card.seen"}  # fmt: skip
    assert len(exported["dead_letters"]) == 1
    before = figures(engine, sales, today)
    refused = client.delete(f"{API}/{NUMBER}")
    assert refused.status_code == 409
    assert f"{API}/{{number}}/erase" in refused.json()["detail"]

    caplog.set_level(logging.DEBUG)
    assert client.post(f"{API}/{NUMBER}/erase", headers=privacy).status_code == 204
    assert client.get(f"{API}/{NUMBER}").status_code == 404  # the number is no longer held
    assert client.post(f"{API}/{NUMBER}/erase", headers=privacy).status_code == 404
    erased = [m for m in client.get(API, params={"limit": 500}).json()["items"] if m["erased_at"]]
    assert len(erased) == 1
    pseudonym = erased[0]["number"]
    assert re.fullmatch(r"erased-[0-9a-f]{24}", pseudonym)
    assert (erased[0]["cards"], erased[0]["name"], erased[0]["email"]) == ([], "", None)
    after_export = client.get(f"{API}/{pseudonym}/export", headers=privacy).json()
    assert [s["id"] for s in after_export["sales"]] == ada_sales  # the sales stay, under the pseudonym
    assert {e["subject"] for e in after_export["events"] if e["type"] == "silentgw.member.offer"} == {pseudonym}
    assert client.get(f"{API}/{pseudonym}/purchases").json()["items"]
    assert client.get(API, params={"q": "Augusta"}).json()["items"] == []
    assert figures(engine, sales, today) == before

    secrets = secrets_of(ADA)
    held = [*everything(engine), ("export", orjson.dumps(after_export).decode())]
    held += [("events api", orjson.dumps(client.get("/api/v1/events", params={"limit": 500}).json()).decode())]
    held += [("log", r.getMessage()) for r in caplog.records if r.name != "httpx"]  # not the test's own client
    leaks = [(where, s) for where, text in held for s in secrets if s in text]
    assert leaks == []
    number = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(NUMBER)}(?![A-Za-z0-9-])")
    assert [(where, text) for where, text in held if number.search(text)] == []
    with engine.connect() as conn:  # the pseudonym is the same everywhere: the sales point at its row
        sold = conn.execute(select(func.count()).select_from(Sale).join(Member).where(Member.number == pseudonym))
        assert sold.scalar_one() == 2


@pytest.mark.anyio
async def test_the_access_log_names_no_member_and_no_search_term(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url)
    app = create_app(settings, engine=engine)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = api_server(app, settings)  # as `silentgw run` makes it
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base, headers=bearer(engine)) as http:
            assert (await http.post(API, json=ADA)).status_code == 201
            assert (await http.get(f"{API}/{NUMBER}/value")).status_code == 200
            assert (await http.get(API, params={"q": "ada.king@analytical"})).status_code == 200
            assert (await http.get(f"/api/v1/%6Dembers/{NUMBER}")).status_code == 200
            assert (await http.get("/api/v1/products", params={"q": "mug"})).status_code == 200
    finally:
        server.should_exit = True
        await task
        sock.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 5
    assert not [line for line in lines if NUMBER in line or "ada.king" in line or "analytical" in line]
    assert '"GET /api/v1/members/*/value HTTP/1.1" 200' in lines[1]
    assert '"GET /api/v1/members?* HTTP/1.1" 200' in lines[2]
    assert "/api/v1/products?q=mug" in lines[4]  # other routes are logged as they came


def test_upgrading_keeps_the_day_of_stored_birthday_offers_not_the_year(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine, "0009")
    with engine.begin() as conn:
        outbox.append(conn, [events.Event("e-1", "silentgw.member.offer", "M-1", dt.datetime.now(dt.UTC),
                                          {"member": "M-1", "because": {"birthday": "1990-05-01"}})])  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        (stored,) = outbox.read(conn, 0)
    engine.dispose()
    assert stored.data == {"member": "M-1", "because": {"birthday": "05-01"}}
