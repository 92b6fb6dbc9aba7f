"""A Mosquitto set up with the files `silentgw broker config` writes: nobody but a reader itself puts reads on its
topics, and nobody but the gateway writes the site's retained state."""

from __future__ import annotations

import getpass
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from silentgw.cli import app
from silentgw.drivers.base import Driver
from silentgw.drivers.observations import Rejected, TagRead
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import build_drivers, run_gateway
from silentgw.gateway.config import Settings, load_settings
from tests.integration.drivers.mqtt.conftest import Publisher, supervised, until
from tests.mqtt_broker import HOST, MOSQUITTO, PrivateBroker

pytestmark = [pytest.mark.mqtt, pytest.mark.anyio]

SITE = "acl-store"
GATEWAY_PASSWORD = "gateway-secret-0123456789"


@dataclass
class Secured:
    """The broker, the settings it was configured for, and the passwords `broker config` made for the readers."""

    broker: PrivateBroker
    settings: Settings
    passwords: dict[str, str]


def _tag(epc: str) -> bytes:
    return (b'{"data": {"idHex": "%s", "antenna": 1, "peakRssi": -50, "reads": 1}, '
            b'"timestamp": "2024-05-01T10:00:00.000+0000", "type": "SIMPLE"}') % epc.encode()  # fmt: skip


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A private Mosquitto running the conf, password file and ACL written for two Zebra readers."""
    if not shutil.which(MOSQUITTO):
        pytest.skip("no mosquitto binary")
    directory = tmp_path_factory.mktemp("secured-broker")
    broker = PrivateBroker(directory)
    toml = directory / "silentgw.toml"
    devices = "".join(
        f'[[devices]]\nid = "reader-{r}"\nkind = "reader"\ndriver = {{ kind = "zebra-iotc", port = {broker.port}, '
        f'data_topic = "zebra/{r}/data", events_topic = "zebra/{r}/events", control_topic = "zebra/{r}/control" }}\n'
        for r in ("a", "b")
    )
    toml.write_text(
        f'[site]\nid = "{SITE}"\n[mqtt]\nhost = "{HOST}"\nport = {broker.port}\nusername = "silentgw"\n'
        f'password = "{GATEWAY_PASSWORD}"\nevents = false\n{devices}'
    )
    result = CliRunner().invoke(
        app,
        ["-c", str(toml), "broker", "config", "--out", str(directory), "--broker-dir", str(directory),
         "--bind", HOST],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    passwords = dict(line.split("\t")[:2] for line in result.stdout.splitlines() if line.startswith("reader-"))
    assert set(passwords) == {"reader-a", "reader-b"}
    # mosquitto.conf including ours, as a site's would; run as whoever runs the tests (as root Mosquitto would drop
    # to user "mosquitto", who cannot read the 0600 password file here)
    broker.config.write_text(f"user {getpass.getuser()}\n" + (directory / "silentgw.conf").read_text())
    broker.start()
    try:
        yield Secured(broker, load_settings(toml, {}), passwords)
    finally:
        broker.kill()


def _connects(port: int, username: str | None = None, password: str | None = None) -> str:
    """The broker's answer to a CONNECT (``Success``, ``Not authorized``, ...)."""
    answered = threading.Event()
    reasons: list[str] = []

    def on_connect(c: paho.Client, u: object, f: object, reason: object, p: object) -> None:
        reasons.append(str(reason))
        answered.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = on_connect
    if username is not None:
        client.username_pw_set(username, password)
    client.connect(HOST, port)
    client.loop_start()
    try:
        assert answered.wait(5), "no CONNACK"
        return reasons[0]
    finally:
        client.disconnect()
        client.loop_stop()


def test_an_anonymous_client_cannot_connect_let_alone_publish_reads(secured: Secured) -> None:
    assert _connects(secured.broker.port) == "Not authorized"
    assert _connects(secured.broker.port, "reader-a", "a wrong password") == "Not authorized"
    assert _connects(secured.broker.port, "reader-a", secured.passwords["reader-a"]) == "Success"


async def test_a_reader_publishes_only_on_its_own_topics(secured: Secured) -> None:
    drivers = build_drivers(secured.settings, Registry.installed())  # they connect with [mqtt]'s account
    reader_a = Publisher(secured.broker.port, username="reader-a", password=secured.passwords["reader-a"])
    reader_b = Publisher(secured.broker.port, username="reader-b", password=secured.passwords["reader-b"])
    try:
        async with supervised(drivers["reader-a"]) as got_a, supervised(drivers["reader-b"]) as got_b:
            reader_a.publish("zebra/b/data", _tag("BAD0"))  # reader A's account spoofing reader B
            reader_a.publish("zebra/a/data", _tag("A001"))
            reader_b.publish("zebra/b/data", _tag("B001"))
            await until(lambda: any(isinstance(o, TagRead) for o in got_b), "reader B's own read")
            await until(lambda: any(isinstance(o, TagRead) for o in got_a), "reader A's own read")
            # the spoof was acknowledged before reader B published: had the broker passed it, it would be here first
            assert [o.epc for o in got_b if isinstance(o, TagRead)] == ["B001"]
            assert [o.epc for o in got_a if isinstance(o, TagRead)] == ["A001"]
    finally:
        reader_a.close()
        reader_b.close()


def test_nobody_but_the_gateway_writes_the_sites_retained_state(secured: Secured) -> None:
    port = secured.broker.port
    state = f"silentgw/{SITE}/state/stock"
    reader_a = Publisher(port, username="reader-a", password=secured.passwords["reader-a"])
    gateway = Publisher(port, username="silentgw", password=GATEWAY_PASSWORD)
    try:
        reader_a.publish(f"{state}/00614141812345/shelf", b'{"quantity": 0}', retain=True)
        gateway.publish(f"{state}/00614141999996/shelf", b'{"quantity": 7}', retain=True)
        watcher = Publisher(port, username="silentgw", password=GATEWAY_PASSWORD)
        try:
            watcher.subscribe(f"silentgw/{SITE}/#")
            gateway.publish(f"silentgw/{SITE}/status", b'{"state": "online"}')  # after the retained ones
            deadline = time.monotonic() + 5
            while not any(topic.endswith("/status") for topic, _ in watcher.received) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert [t for t, _ in watcher.received] == [f"{state}/00614141999996/shelf", f"silentgw/{SITE}/status"]
        finally:
            watcher.close()
    finally:
        reader_a.close()
        gateway.close()


def test_the_builtin_hash_is_one_mosquitto_takes(secured: Secured, tmp_path: Path) -> None:
    from silentgw.gateway.broker import password_hash  # this test's subject, apart from the CLI's

    broker = PrivateBroker(tmp_path)
    (tmp_path / "passwd").write_text(f"someone:{password_hash('builtin-secret')}\n")
    broker.config.write_text(
        f"user {getpass.getuser()}\nlistener {broker.port} {HOST}\nallow_anonymous false\n"
        f"password_file {tmp_path / 'passwd'}\n"
    )
    broker.start()
    try:
        assert _connects(broker.port, "someone", "builtin-secret") == "Success"
        assert _connects(broker.port, "someone", "another") == "Not authorized"
    finally:
        broker.kill()


def _settings(**mqtt: object) -> Settings:
    device = {
        "id": "display-1",
        "kind": "display",
        "driver": {"kind": "generic-json", "topics": ["silentgw-test/anon/status"], "connect_timeout": 1},
    }
    return Settings(site={"id": SITE}, mqtt={"events": False, **mqtt}, devices=[device])


async def test_the_gateway_warns_at_start_when_it_connects_anonymously(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="silentgw.gateway.broker"):
        async with run_gateway(_settings()):
            pass
    [warning] = [r.getMessage() for r in caplog.records if r.name == "silentgw.gateway.broker"]
    assert warning.startswith("connecting to MQTT broker 127.0.0.1:1883 anonymously (device display-1)")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="silentgw.gateway.broker"):
        async with run_gateway(_settings(username="silentgw", password="x")):  # the driver takes [mqtt]'s account
            pass
    assert not [r for r in caplog.records if r.name == "silentgw.gateway.broker"]


async def test_a_message_on_a_topic_the_driver_no_longer_subscribes_to_is_set_aside(topic: str) -> None:
    registry = Registry.installed()

    def reader(data_topic: str) -> Driver:  # a persistent session: the broker keeps the old subscription
        options = {"data_topic": data_topic, "client_id": f"silentgw-test-{topic[-12:]}", "clean_start": False,
                   "session_expiry": 60, "connect_timeout": 2}  # fmt: skip
        return registry.build("reader-a", "zebra-iotc", options)

    async with supervised(reader(f"{topic}/old")):
        pass
    publisher = Publisher()
    try:
        async with supervised(reader(f"{topic}/new")) as got:
            publisher.publish(f"{topic}/old", _tag("0001"))
            publisher.publish(f"{topic}/new", _tag("0002"))
            await until(lambda: any(isinstance(o, TagRead) for o in got), "the read on the new topic")
            assert [o.epc for o in got if isinstance(o, TagRead)] == ["0002"]
            [stray] = [o for o in got if isinstance(o, Rejected)]
            assert stray.reason == f"1 messages set aside: they came in on '{topic}/old', not a topic of this device"
    finally:
        publisher.close()
