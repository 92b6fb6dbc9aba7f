"""The shared broker settings: secrets stay secret, persistent sessions need a fixed client id."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from silentgw.drivers.mqtt.impinj_iot import ImpinjIotReader
from silentgw.drivers.mqtt.settings import MqttSettings, TlsSettings


def test_defaults_are_a_local_broker_with_mqtt_5_and_qos_1() -> None:
    s = MqttSettings()
    assert (s.host, s.port, s.protocol, s.qos, s.clean_start) == ("127.0.0.1", 1883, "5", 1, True)


def test_the_password_is_a_secret() -> None:
    s = MqttSettings.model_validate({"username": "gw", "password": "hunter2"})
    assert "hunter2" not in repr(s)
    assert s.password is not None
    assert s.password.get_secret_value() == "hunter2"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"clean_start": False}, "fixed client_id"),
        ({"password": "x"}, "password needs username"),
        ({"qos": 3}, "qos"),
        ({"protocol": "3.1"}, "protocol"),
        ({"tls": {"key_file": "k.pem"}}, "key_file needs cert_file"),
        ({"hots": "broker"}, "hots"),
    ],
)
def test_inconsistent_settings_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings.model_validate(options)


def test_a_persistent_session_with_a_fixed_client_id_and_tls() -> None:
    s = ImpinjIotReader.Settings.model_validate(
        {"event_topic": "r700/events", "clean_start": False, "client_id": "gw-r700", "session_expiry": 3600,
         "tls": {"ca_file": "/etc/ssl/ca.pem", "cert_file": "c.pem", "key_file": "k.pem"}, "port": 8883}
    )  # fmt: skip
    assert s.tls == TlsSettings(ca_file="/etc/ssl/ca.pem", cert_file="c.pem", key_file="k.pem")
