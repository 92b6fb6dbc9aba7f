"""The staff page's sign-in on SQLite and PostgreSQL: the cookie holds a random session id kept on the server (not the
key, nor anything made from it); the session serves the page, and ends at sign-out, when its key is revoked (from
the command line's store function, with no cache to wait for), when it expires and when it goes unused too long."""

from __future__ import annotations

import datetime as dt
import time
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text, update

from silentgw.api import create_app
from silentgw.api.ui.signin import SESSION_COOKIE
from silentgw.gateway.config import Settings
from silentgw.gateway.store import keys
from silentgw.gateway.store.models import PageSession, Role
from tests.keys import bearer

SIGNED_IN = "Low stock and restock"
SIGN_IN_FORM = 'name="key"'


def made_key(engine: Engine, role: Role = Role.STAFF) -> tuple[str, str]:
    with engine.begin() as conn:
        return keys.create(conn, role=role, name="till")


def sign_in(page: TestClient, secret: str) -> str:
    """Sign ``page`` in with ``secret``; the session cookie's value."""
    response = page.post("/login", data={"key": secret}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = SimpleCookie(response.headers["set-cookie"])
    return cookie[SESSION_COOKIE].value


def stored(engine: Engine) -> str:
    with engine.connect() as conn:
        return repr(conn.execute(text("SELECT * FROM page_sessions")).all())


@pytest.fixture
def settings(engine: Engine, database_url: str) -> Settings:
    return Settings(database_url=database_url)  # an empty store: the page's sections are not what is tested here


@pytest.fixture
def page(engine: Engine, settings: Settings) -> TestClient:
    return TestClient(create_app(settings, engine=engine))


def test_the_cookie_holds_a_random_session_id_not_the_key(page: TestClient, engine: Engine) -> None:
    key_id, secret = made_key(engine)
    response = page.post("/login", data={"key": secret}, follow_redirects=False)
    header = response.headers["set-cookie"]
    assert secret not in header
    assert "silentgw_key" not in header
    session = SimpleCookie(header)[SESSION_COOKIE]
    assert session["httponly"]
    assert session["samesite"].lower() == "strict"
    assert session["path"] == "/"
    assert not session["secure"]  # plain http here; over https the cookie is Secure
    value = session.value
    assert len(value) >= 40  # 256 random bits
    assert value not in {secret, keys.digest(secret), key_id}
    assert key_id not in value
    assert secret.split("_")[-1] not in value
    assert SIGNED_IN in page.get("/").text  # the session serves the page
    assert page.get("/api/v1/stock").status_code == 401  # and never the API
    rows = stored(engine)  # the server keeps a digest of the id, never the id or the key
    assert value not in rows
    assert secret not in rows
    assert keys.digest(secret) not in rows
    again = sign_in(TestClient(page.app), secret)
    assert again != value  # every sign-in is a session of its own


def test_signing_out_ends_the_session_on_the_server(page: TestClient, engine: Engine) -> None:
    _, secret = made_key(engine)
    value = sign_in(page, secret)
    page.post("/logout")
    assert SIGN_IN_FORM in page.get("/").text
    page.cookies.set(SESSION_COOKIE, value)  # a copy of the cookie kept from before the sign-out
    assert SIGN_IN_FORM in page.get("/").text
    assert page.get("/ui/events/stream").status_code == 401


def test_revoking_the_key_ends_its_sessions_at_once(page: TestClient, engine: Engine) -> None:
    key_id, secret = made_key(engine, Role.OPERATOR)
    other = TestClient(page.app)
    sign_in(page, secret)
    sign_in(other, secret)
    assert SIGNED_IN in page.get("/").text
    with engine.begin() as conn:  # as `silentgw keys revoke` does, in another process: no cache is told
        keys.revoke(conn, key_id)
    response = page.get("/")
    assert "no longer valid" in response.text
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert SIGN_IN_FORM in other.get("/").text
    assert stored(engine) == "[]"  # revoking the key deleted its sessions


def test_admins_list_and_end_a_keys_sessions(page: TestClient, engine: Engine) -> None:
    key_id, secret = made_key(engine)
    sign_in(page, secret)
    admin = bearer(engine)
    listed = page.get(f"/api/v1/keys/{key_id}/sessions", headers=admin)
    assert listed.status_code == 200
    (session,) = listed.json()
    assert {"created_at", "expires_at", "last_seen_at"} <= session.keys()
    assert page.delete(f"/api/v1/keys/{key_id}/sessions", headers=admin).status_code == 204
    assert SIGN_IN_FORM in page.get("/").text
    assert page.get(f"/api/v1/keys/{key_id}/sessions", headers=admin).json() == []
    assert page.get("/api/v1/keys/nosuchkey/sessions", headers=admin).status_code == 404


def test_a_session_past_its_lifetime_is_refused(engine: Engine, settings: Settings) -> None:
    short = settings.model_copy(update={"access": settings.access.model_copy(update={"session_lifetime": 1.0})})
    page = TestClient(create_app(short, engine=engine))
    _, secret = made_key(engine)
    value = sign_in(page, secret)
    signed_at = time.monotonic()
    assert SIGNED_IN in page.get("/").text
    time.sleep(max(0.0, signed_at + 1.1 - time.monotonic()))
    page.cookies.set(SESSION_COOKIE, value)  # the browser drops it by now (Max-Age); a copy kept is refused too
    response = page.get("/")
    assert SIGN_IN_FORM in response.text
    assert "session has ended" in response.text


def test_a_session_unused_past_the_idle_timeout_is_refused(page: TestClient, engine: Engine) -> None:
    _, secret = made_key(engine)
    sign_in(page, secret)
    idle = page.app.state.settings.access.session_idle  # type: ignore[attr-defined]
    assert SIGNED_IN in page.get("/").text
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=idle + 1)
    with engine.begin() as conn:  # the browser left unused for longer than the idle timeout
        conn.execute(update(PageSession).values(last_seen_at=earlier, created_at=earlier))
    assert SIGN_IN_FORM in page.get("/").text
