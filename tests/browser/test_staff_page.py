"""The staff page in a real browser (Debian's Chromium, headless) against a real server over a stocked store: signing
in with a key, a stock search, a restock approval (and a staff key refused), a live event arriving in the feed, and
the page at a phone's width. Screenshots of desktop and phone go to build/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import RestockRequest, RestockState, Role
from silentgw.gateway.transitions import Arrived
from tests.browser.conftest import Served, needs_chromium, screenshot
from tests.keys import bearer
from tests.staff import MILK, TEE_M, TEE_S
from tests.tags import tag

pytestmark = needs_chromium

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def key(served: Served, role: Role) -> str:
    """A new key of ``role``."""
    return bearer(served.engine, role)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def contexts(browser: Browser, served: Served) -> Iterator[Callable[..., BrowserContext]]:
    """Fresh browser contexts on the server (closed at the end, so no live feed outlives its test)."""
    opened: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=served.url, **options)
        context.set_default_timeout(5000)
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def signed_in(
    contexts: Callable[..., BrowserContext], served: Served, role: Role, **options: Any
) -> tuple[BrowserContext, Page]:
    """A fresh browser context signed in with a new key of ``role``, on the page."""
    context = contexts(**options)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("API key").fill(key(served, role))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Stock", exact=True)).to_be_visible()
    return context, page


def request_state(served: Served) -> RestockState:
    with served.engine.connect() as conn:
        return RestockState(conn.execute(select(RestockRequest.state)).scalar_one())


def test_signing_in_with_a_key_shows_the_page(contexts: Callable[..., BrowserContext], served: Served) -> None:
    context = contexts(viewport=DESKTOP)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("API key").fill("sgw_000000000000_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That key is not valid")
    secret = key(served, Role.STAFF)
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    for heading in ("Stock", "Low stock and restock", "Find an item", "Live events", "Devices"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator(".badge")).to_have_text("staff")
    (cookie,) = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/")
    assert cookie["name"] == "silentgw_session"  # a session's id, never the key
    assert secret.split("_")[-1] not in cookie["value"]
    # the cookie signs in the page alone: the API still wants its key in a header
    assert context.request.get("/api/v1/stock").status == 401
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()


def test_a_search_finds_the_right_stock(contexts: Callable[..., BrowserContext], served: Served) -> None:
    _, page = signed_in(contexts, served, Role.STAFF, viewport=DESKTOP)
    page.get_by_label("GTIN, SKU or name").fill("tee m")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.stock tbody tr")
    expect(rows).to_have_count(2)
    found = {
        (row.locator("[data-label=GTIN]").inner_text(), row.locator("[data-label=Location]").inner_text(),
         int(row.locator("[data-label=Quantity]").inner_text()))
        for row in rows.all()
    }  # fmt: skip
    assert found == {(TEE_M.gtin, "aisle-2", 1), (TEE_M.gtin, "backroom", 5)}  # not the S tee, not the milk
    page.get_by_label("GTIN, SKU or name").fill(MILK.gtin)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator("[data-label=Quantity]")).to_have_text("3")
    page.get_by_label("GTIN, SKU or name").fill("no such thing")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#stock .empty")).to_contain_text("Nothing in stock matches")
    page.get_by_label("EPC (hex, from the tag)").fill(tag(TEE_S, 2))
    page.get_by_role("button", name="Find").click()
    expect(page.locator(".facts")).to_contain_text("shelf-2a")
    expect(page.locator(".facts")).to_contain_text("in stock")
    page.get_by_label("EPC (hex, from the tag)").fill("not-hex")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#item .flash.error")).to_contain_text("not an EPC")


def test_an_operator_approves_a_restock_request_and_staff_may_not(
    contexts: Callable[..., BrowserContext], served: Served
) -> None:
    assert request_state(served) is RestockState.PROPOSED
    staff, page = signed_in(contexts, served, Role.STAFF, viewport=DESKTOP)
    row = page.locator("table.requests tbody tr")
    expect(row).to_have_count(1)
    expect(row.get_by_role("button", name="Approve")).to_be_disabled()
    request_id = row.get_attribute("data-request")
    refused = staff.request.post(f"/ui/restock/{request_id}/approve", max_redirects=0)
    assert refused.status == 403
    assert "may look at restock requests but not approve them" in refused.text()
    assert request_state(served) is RestockState.PROPOSED

    operator, page = signed_in(contexts, served, Role.OPERATOR, viewport=DESKTOP)
    row = page.locator("table.requests tbody tr")
    expect(row.locator("[data-label=State]")).to_have_text("proposed")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"Approved the restock request for 7 of {MILK.gtin} at aisle-1")
    expect(row.locator("[data-label=State]")).to_have_text("approved")
    expect(row.get_by_role("button", name="Approve")).to_be_disabled()
    assert request_state(served) is RestockState.APPROVED
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot draws the sticky section bar where the page is
    page.screenshot(path=screenshot("desktop-approved"), full_page=True)
    # another site's form is refused even with the operator's cookie
    forged = operator.request.post(f"/ui/restock/{request_id}/cancel", headers={"Origin": "http://elsewhere.example"})
    assert forged.status == 403
    assert request_state(served) is RestockState.APPROVED


def test_a_live_event_appears_in_the_feed(contexts: Callable[..., BrowserContext], served: Served) -> None:
    _, page = signed_in(contexts, served, Role.STAFF, viewport=DESKTOP)
    expect(page.locator("#feed-status")).to_have_text("Newest first, live.")
    before = page.locator("#feed li").count()
    ledger = SqlStockLedger(served.engine)  # a tag read arriving on the shelf, as the read pipeline writes it
    ledger.apply([Arrived(tag(TEE_S, 50), "shelf-2a", dt.datetime.now(dt.UTC))], ledger.zones())
    newest = page.locator("#feed li").first
    expect(newest).to_contain_text("stock.changed")
    expect(newest).to_contain_text(f"{TEE_S.gtin}@aisle-2")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", newest.locator("time").inner_text())  # as the server writes
    assert page.locator("#feed li").count() > before
    page.screenshot(path=screenshot("desktop"), full_page=True)


def test_the_page_fits_a_phone(contexts: Callable[..., BrowserContext], served: Served) -> None:
    _, page = signed_in(
        contexts, served, Role.OPERATOR, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page.goto("/?q=tee#stock")
    expect(page.locator("table.stock tbody tr")).to_have_count(3)
    page.goto(f"/?q=tee&epc={tag(MILK, 3)}")
    expect(page.locator(".facts")).to_contain_text("shelf-1a")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    assert re.fullmatch(r"\d+", page.locator("#feed").get_attribute("data-since") or "")
    page.screenshot(path=screenshot("phone"), full_page=True)
