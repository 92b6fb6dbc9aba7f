"""Secrets never leave through the API: a device's driver password is write-only, and a database that fails is
'unavailable' to the caller, its own words (server, port, role) going to the log only."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, make_url, select, text
from sqlalchemy.orm import Session

from silentgw.api import create_app
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import DeviceSettings, Settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Device, Role, Site
from tests.conftest import POSTGRES_URL
from tests.keys import bearer

API = "/api/v1"
MASK = "**********"
SECRETS = ("hunter2", "url-s3cret", "tok-s3cret")
DRIVER = {
    "kind": "zebra-iotc",
    "host": "broker.internal",
    "username": "reader",
    "password": "hunter2",
    "url": "mqtt://reader:url-s3cret@broker.internal:1883",
    "api_token": "tok-s3cret",
}


def _stored(engine: Engine) -> str:
    """Every device's driver options as the database holds them."""
    with engine.connect() as conn:
        return repr(conn.execute(text("SELECT driver FROM devices")).all())


def _assert_no_secret(text_: str) -> None:
    for secret in SECRETS:
        assert secret not in text_


def test_no_role_reads_a_device_password(client: TestClient, engine: Engine) -> None:
    created = client.post(f"{API}/devices", json={"id": "r1", "kind": "reader", "driver": DRIVER})
    assert created.status_code == 201, created.text
    configured = DeviceSettings.model_validate({"id": "r2", "kind": "reader", "driver": DRIVER})
    with Session(engine) as session, session.begin():
        apply_layout(Catalog(session, site_id="store-1"), Settings(devices=(configured,)))
    shown = {**DRIVER, "password": MASK, "url": f"mqtt://reader:{MASK}@broker.internal:1883", "api_token": MASK}
    assert created.json()["driver"] == shown
    for role in Role:  # admins included
        headers = bearer(engine, role)
        answers = [client.get(f"{API}/devices/{device}", headers=headers) for device in ("r1", "r2")]
        listed = client.get(f"{API}/devices", headers=headers)
        assert [a.status_code for a in (*answers, listed)] == [200, 200, 200], role
        assert [a.json()["driver"] for a in answers] == [shown, shown]
        _assert_no_secret(" ".join(a.text for a in (*answers, listed)))
    _assert_no_secret(_stored(engine))  # nor does the database keep it


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the route's own logic: one backend is enough
def test_a_write_without_the_password_keeps_it_set(client: TestClient, engine: Engine) -> None:
    assert client.post(f"{API}/devices", json={"id": "r1", "kind": "reader", "driver": DRIVER}).status_code == 201
    without = {"kind": "zebra-iotc", "host": "broker-2.internal", "username": "reader"}
    changed = client.patch(f"{API}/devices/r1", json={"driver": without})
    assert changed.status_code == 200, changed.text
    assert changed.json()["driver"] == {**without, "password": MASK, "api_token": MASK}
    again = client.patch(f"{API}/devices/r1", json={"driver": {**without, "password": "new-pass"}})
    assert again.json()["driver"]["password"] == MASK
    assert "new-pass" not in again.text + _stored(engine)
    unset = client.patch(f"{API}/devices/r1", json={"driver": {**without, "password": None, "api_token": None}})
    assert unset.json()["driver"] == without
    other = client.patch(f"{API}/devices/r1", json={"driver": {"kind": "uhf-m100", "url": "/dev/ttyUSB0"}})
    assert other.json()["driver"] == {"kind": "uhf-m100", "url": "/dev/ttyUSB0"}  # another driver: nothing carried


def test_the_upgrade_scrubs_passwords_stored_before(database_url: str) -> None:
    eng = connect(database_url)
    upgrade(eng, "0009")
    with eng.begin() as conn:
        conn.execute(insert(Site).values(id="store-1", name="Store", timezone="UTC"))
        conn.execute(insert(Device).values(id="r1", site_id="store-1", kind="reader", name="", driver=DRIVER,
                                           enabled=True))  # fmt: skip
    upgrade(eng)
    with eng.connect() as conn:
        driver = conn.execute(select(Device.driver)).scalar_one()
    eng.dispose()
    assert driver["password"] == MASK
    assert driver["host"] == "broker.internal"
    _assert_no_secret(repr(driver))


# a database that fails --------------------------------------------------------------------------------------------

ROLE = "sgw_no_such_role"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://{ROLE}:pw-s3cret@127.0.0.1:1/silentgw", id="closed-port"),
        pytest.param(
            make_url(POSTGRES_URL).set(username=ROLE).render_as_string(hide_password=False),
            id="unknown-role",
            marks=pytest.mark.postgres,
        ),
    ],
)
def test_without_a_key_a_failing_database_is_unavailable_and_nothing_more(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="silentgw")
    app = create_app(Settings(database_url=url))
    with TestClient(app) as client:
        unknown = {"X-API-Key": "sgw_0123456789ab_any"}  # checking a key needs the database
        answers = [
            client.get("/readyz"),
            client.get(f"{API}/products", headers=unknown),
            client.post(f"{API}/products", json={"gtin": "x"}, headers=unknown),  # refused before its body is read
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert "unavailable" in body["title"].lower()
        for leak in (ROLE, "127.0.0.1", "5432", "port 1", "pw-s3cret", "connection", "server", "FATAL"):
            assert leak not in answer.text, (leak, answer.text)
        assert f"incident {body['incident']}" in caplog.text  # the cause is in the log, under the id given
    assert ROLE in caplog.text or "port 1" in caplog.text
    assert "pw-s3cret" not in caplog.text
