"""`silentgw broker config` as an installer runs it: the files for the example store, passwords kept on a re-run."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from silentgw.cli import app

EXAMPLE = str(resources.files("silentgw").joinpath("example.toml"))


def _write(out: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["-c", EXAMPLE, "broker", "config", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _entries(out: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in (out / "silentgw.passwd").read_text().splitlines())


@pytest.mark.parametrize("hasher", ["builtin", "mosquitto_passwd"])
def test_the_example_store_gets_an_account_per_mqtt_device_and_the_gateways(tmp_path: Path, hasher: str) -> None:
    if hasher == "mosquitto_passwd" and not Path("/usr/bin/mosquitto_passwd").exists():
        pytest.skip("no mosquitto_passwd")
    printed = _write(tmp_path, "--hasher", hasher)
    entries = _entries(tmp_path)
    assert list(entries) == ["silentgw", "reader-back", "reader-front", "display-1a"]
    assert all(hashed.startswith("$7$101$") for hashed in entries.values())
    shown = [line.split("\t")[0] for line in printed.splitlines() if "\t" in line]
    assert shown == list(entries)  # every password made now is shown, once
    conf = (tmp_path / "silentgw.conf").read_text()
    for line in ("allow_anonymous false", "password_file /etc/mosquitto/silentgw.passwd",
                 "acl_file /etc/mosquitto/silentgw.acl", "max_inflight_messages 0"):  # fmt: skip
        assert line in conf.splitlines()
    acl = (tmp_path / "silentgw.acl").read_text()
    assert "user reader-back\ntopic read zebra/fx9600/backroom/control\ntopic write zebra/fx9600/backroom/data\n" in acl
    assert "topic readwrite silentgw/store-1/#" in acl.split("user reader-back")[0]  # the gateway's, no one else's
    assert acl.count("silentgw/store-1") == 1
    assert (tmp_path / "silentgw.passwd").stat().st_mode & 0o077 == 0


def test_written_again_the_devices_keep_their_passwords(tmp_path: Path) -> None:
    _write(tmp_path, "--hasher", "builtin")
    first = _entries(tmp_path)
    printed = _write(tmp_path, "--hasher", "builtin")
    assert _entries(tmp_path) == first
    assert "\t" not in printed  # no password made, none shown


def test_tls_adds_the_certificates_to_the_listener(tmp_path: Path) -> None:
    _write(tmp_path, "--hasher", "builtin", "--tls", "--certs-dir", "/etc/mosquitto/certs")
    conf = (tmp_path / "silentgw.conf").read_text().splitlines()
    assert "cafile /etc/mosquitto/certs/ca.crt" in conf
    assert "keyfile /etc/mosquitto/certs/server.key" in conf
