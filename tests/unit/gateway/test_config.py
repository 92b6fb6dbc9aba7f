"""Settings from a TOML file and SILENTGW_* variables: what loads, what wins, and how a bad config is refused."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from silentgw.gateway.config import ConfigError, Settings, load_settings

EXAMPLE = Path(str(resources.files("silentgw").joinpath("example.toml")))

SMALL = """
database_url = "sqlite:///small.db"

[site]
id = "shop"
name = "Shop"

[[locations]]
id = "store"
name = "Store"
kind = "site"

[[locations]]
id = "floor"
name = "Floor"
parent = "store"

[[zones]]
id = "shelf-1"
name = "Shelf 1"
kind = "shelf"
location = "floor"

[[devices]]
id = "reader-1"
kind = "reader"
location = "floor"
driver = { kind = "uhf-m100", url = "loop://" }
antennas = [{ port = 1, zone = "shelf-1" }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "silentgw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(config_file: Path | None, environ: dict[str, str] | None = None) -> str:
    """The message ``load_settings`` refuses this config with."""
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, environ or {})
    return str(caught.value)


# loading -------------------------------------------------------------------------------------------------------------


def test_the_example_config_loads() -> None:
    settings = load_settings(EXAMPLE, {})
    assert settings.site.id == "store-1"
    assert settings.site.timezone == "Europe/Amsterdam"
    assert [loc.id for loc in settings.locations] == ["store", "sales-floor", "aisle-1", "aisle-2", "backroom", "front"]
    assert {z.id for z in settings.zones} >= {"shelf-1a", "dock-door", "checkout-1", "exit"}
    back = next(d for d in settings.devices if d.id == "reader-back")
    assert [(a.port, a.zone) for a in back.antennas] == [
        (1, "stockroom"),
        (2, "receiving"),
        (3, "dock-door"),
        (4, "dock-door"),
    ]
    assert back.driver.kind == "zebra-iotc"
    assert back.driver.model_dump()["data_topic"] == "zebra/fx9600/backroom/data"
    assert [a.role for a in back.antennas] == [None, None, "inner", "outer"]
    # every zone an antenna names, and every location a zone names, is in the file
    zones = {z.id for z in settings.zones}
    assert {a.zone for d in settings.devices for a in d.antennas} <= zones
    assert {z.location for z in settings.zones} <= {loc.id for loc in settings.locations}


def test_webhooks_reach_public_addresses_only_unless_networks_are_allowed(tmp_path: Path) -> None:
    assert Settings().webhooks.allow_networks == ()
    path = write(tmp_path, "[webhooks]\nallow_networks = ['10.20.0.0/16', '127.0.0.1/32', 'fd00::/8']\n")
    allowed = load_settings(path, {}).webhooks.allow_networks
    assert [str(n) for n in allowed] == ["10.20.0.0/16", "127.0.0.1/32", "fd00::/8"]
    from_env = load_settings(None, {"SILENTGW_WEBHOOKS__ALLOW_NETWORKS": '["10.0.0.0/8"]'}).webhooks.allow_networks
    assert [str(n) for n in from_env] == ["10.0.0.0/8"]


def test_no_file_and_no_variables_gives_the_defaults() -> None:
    assert load_settings(None, {}) == Settings()


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    assert f"{tmp_path / 'absent.toml'}: no such file" in refusal(tmp_path / "absent.toml")


def test_variables_that_are_not_silentgw_settings_are_ignored(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root", "SILENTGW_CONFIG": "elsewhere.toml"}
    assert load_settings(write(tmp_path, SMALL), environ) == load_settings(write(tmp_path, SMALL), {})


# the environment wins ------------------------------------------------------------------------------------------------


def test_variables_win_over_the_file(tmp_path: Path) -> None:
    environ = {
        "SILENTGW_API__PORT": "8080",
        "SILENTGW_DATABASE_URL": "postgresql://gw@db.internal:5432/silentgw",
        "SILENTGW_SITE__NAME": "Renamed",
        "SILENTGW_LOG_LEVEL": "DEBUG",
    }
    settings = load_settings(write(tmp_path, SMALL), environ)
    assert settings.api.port == 8080
    assert settings.api.host == "127.0.0.1"  # the rest of [api] keeps its default
    assert settings.database_url == "postgresql://gw@db.internal:5432/silentgw"
    assert (settings.site.id, settings.site.name) == ("shop", "Renamed")  # the rest of [site] is the file's
    assert settings.log_level == "DEBUG"
    assert [z.id for z in settings.zones] == ["shelf-1"]


def test_a_list_is_given_as_json_and_replaces_the_file_s(tmp_path: Path) -> None:
    zones = [
        {"id": "shelf-1", "name": "Shelf 1", "kind": "shelf", "location": "floor"},
        {"id": "exit", "name": "Exit", "kind": "exit", "location": "store"},
    ]
    settings = load_settings(write(tmp_path, SMALL), {"SILENTGW_ZONES": json.dumps(zones)})
    assert [(z.id, z.kind, z.location) for z in settings.zones] == [
        ("shelf-1", "shelf", "floor"),
        ("exit", "exit", "store"),
    ]


def test_a_table_is_given_as_json(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SMALL), {"SILENTGW_MQTT": '{"host": "broker", "tls": true}'})
    assert (settings.mqtt.host, settings.mqtt.port) == ("broker", 1883)
    assert settings.mqtt.tls is not None  # `true`: TLS with the system's CAs
    assert settings.mqtt.tls.check_hostname


def test_variable_names_are_not_case_sensitive() -> None:
    assert load_settings(None, {"silentgw_api__port": "9000"}).api.port == 9000


def test_the_environment_alone_configures_everything() -> None:
    environ = {
        "SILENTGW_LOCATIONS": '[{"id": "store", "name": "Store"}]',
        "SILENTGW_ZONES": '[{"id": "exit", "name": "Exit", "kind": "exit", "location": "store"}]',
        "SILENTGW_MQTT__USERNAME": "gateway",
        "SILENTGW_MQTT__PASSWORD": "hunter2",
    }
    settings = load_settings(None, environ)
    assert [z.id for z in settings.zones] == ["exit"]
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "hunter2"


# refused -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 'red'\n", "colour: unknown key"),
        ("[api]\nport = 8000\nprot = 1\n", "api.prot: unknown key"),
        ("[api]\nport = 0\n", "api.port: Input should be greater than or equal to 1"),
        ("[api]\nport = 70000\n", "api.port: Input should be less than or equal to 65535"),
        ("[api]\nport = 'http'\n", "api.port: Input should be a valid integer"),
        ("[mqtt]\nport = -1\n", "mqtt.port: Input should be greater than or equal to 1"),
        ("database_url = 'mysql://db/x'\n", "database_url: must be a sqlite:/// or postgresql:// URL"),
        ("log_level = 'LOUD'\n", "log_level: Input should be"),
        ("[site]\nid = 'Store 1'\n", "site.id: String should match pattern"),
        ("[webhooks]\nallow_networks = ['10.0.0.1/8']\n", "webhooks.allow_networks: a network in CIDR form"),
        ("[webhooks]\nallow_networks = ['inside']\n", "webhooks.allow_networks: a network in CIDR form"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(tmp_path: Path, text: str, expected: str) -> None:
    message = refusal(write(tmp_path, text))
    assert expected in message
    assert str(tmp_path / "silentgw.toml") in message


def _with(extra: str) -> str:
    return SMALL + extra


def _device(ident: str, kind: str, *lines: str) -> str:
    """One more ``[[devices]]`` entry for SMALL, with a driver and ``lines``."""
    return _with(f'[[devices]]\nid = "{ident}"\nkind = "{kind}"\ndriver = {{ kind = "x" }}\n' + "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _with('[[zones]]\nid = "dock"\nname = "Dock"\nkind = "dock_door"\nlocation = "yard"\n'),
            "zones.1.location: unknown location 'yard'",
        ),
        (
            _device("r2", "reader", 'antennas = [{ port = 1, zone = "shelf-9" }]'),
            "devices.1.antennas.0.zone: unknown zone 'shelf-9'",
        ),
        (
            _with('[[devices]]\nid = "r2"\nkind = "reader"\nlocation = "roof"\ndriver = { kind = "x" }\n'),
            "devices.1.location: unknown location 'roof'",
        ),
        (
            _with('[[locations]]\nid = "aisle"\nname = "Aisle"\nparent = "attic"\n'),
            "locations.2.parent: unknown location 'attic'",
        ),
        (_with('[[locations]]\nid = "floor"\nname = "Floor again"\n'), "locations.2.id: duplicate id 'floor'"),
        (
            _with('[[zones]]\nid = "shelf-1"\nname = "Again"\nkind = "shelf"\nlocation = "floor"\n'),
            "zones.1.id: duplicate id 'shelf-1'",
        ),
        (
            _with('[[devices]]\nid = "reader-1"\nkind = "lock"\ndriver = { kind = "x" }\n'),
            "devices.1.id: duplicate id 'reader-1'",
        ),
        (
            _device("fridge", "sensor", 'antennas = [{ port = 1, zone = "shelf-1" }]'),
            "devices.1: only readers have antennas",
        ),
        (
            _device("r2", "reader", 'antennas = [{ port = 2, zone = "shelf-1" }, { port = 2, zone = "shelf-1" }]'),
            "antenna ports must be unique",
        ),
        (
            _device("r2", "reader", 'antennas = [{ port = 65, zone = "shelf-1" }]'),
            "devices.1.antennas.0.port: Input should be less than or equal to 64",
        ),
        (
            _with('[[devices]]\nid = "r2"\nkind = "reader"\ndriver = { url = "loop://" }\n'),
            "devices.1.driver.kind: Field required",
        ),
        (
            _with('[[zones]]\nid = "z"\nname = "Z"\nkind = "attic"\nlocation = "floor"\n'),
            "zones.1.kind: Input should be",
        ),
    ],
)
def test_a_bad_layout_is_refused_naming_its_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refusal(write(tmp_path, text))


@pytest.mark.parametrize(
    "locations",
    [
        [("a", "a")],  # its own parent
        [("a", "b"), ("b", "a")],
        [("top", None), ("a", "c"), ("b", "a"), ("c", "b")],
    ],
)
def test_a_location_cycle_is_refused(tmp_path: Path, locations: list[tuple[str, str | None]]) -> None:
    text = "".join(
        f'[[locations]]\nid = "{ident}"\nname = "{ident}"\n' + (f'parent = "{parent}"\n' if parent else "")
        for ident, parent in locations
    )
    message = refusal(write(tmp_path, text))
    for i, (ident, parent) in enumerate(locations):
        if parent is None:
            assert f"locations.{i}.parent" not in message
        else:
            assert f"locations.{i}.parent: location {ident!r} is its own ancestor" in message


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    text = _with('[api]\nport = 0\n[mqtt]\ncolour = "red"\n')
    message = refusal(write(tmp_path, text))
    assert "api.port:" in message
    assert "mqtt.colour: unknown key" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[api\nport = 1\n", 1),
        ("log_level = 'INFO'\n[api]\nport = = 1\n", 3),
        ("[site]\nid = 'a'\nid = 'b'\n", 3),
    ],
)
def test_invalid_toml_is_refused_with_its_line(tmp_path: Path, text: str, line: int) -> None:
    message = refusal(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'silentgw.toml'}: not valid TOML")
    assert f"line {line}" in message


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SILENTGW_API__PORT": "0"}, "api.port (from SILENTGW_API__PORT): Input should be greater than or equal to 1"),
        ({"SILENTGW_API__PORT": "eighty"}, "api.port (from SILENTGW_API__PORT): Input should be a valid integer"),
        ({"SILENTGW_API__PROT": "80"}, "api.prot (from SILENTGW_API__PROT): unknown key"),
        ({"SILENTGW_DATABASE_URL": "oracle://x"}, "database_url (from SILENTGW_DATABASE_URL): must be"),
        ({"SILENTGW_ZONES": "[{not json"}, "SILENTGW_ZONES: not valid JSON"),
        ({"SILENTGW_ZONES": '[{"id": "z"}]'}, "zones.0.name (from SILENTGW_ZONES): Field required"),
    ],
)
def test_a_bad_variable_is_refused_naming_it(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    assert expected in refusal(write(tmp_path, SMALL), environ)


def test_a_bad_value_in_the_file_is_not_blamed_on_the_environment(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, _with("[api]\nport = 0\n")), {"SILENTGW_MQTT__PORT": "1884"})
    assert "  api.port: Input should be greater than or equal to 1" in message


@pytest.mark.parametrize("name", ["SILENTGW_API_PORT", "SILENTGW_DATABASE", "SILENTGW_NOPE__X", "silentgw_colour"])
def test_an_unknown_silentgw_variable_is_refused_by_name(name: str) -> None:
    message = refusal(None, {name: "1", "SILENTGW_API__PORT": "8080"})
    assert message == f"unknown settings variable(s): {name}"


# secrets -------------------------------------------------------------------------------------------------------------


def test_masked_hides_the_mqtt_password_and_the_database_password(tmp_path: Path) -> None:
    environ = {
        "SILENTGW_MQTT__PASSWORD": "hunter2",
        "SILENTGW_MQTT__USERNAME": "gw",
        "SILENTGW_DATABASE_URL": "postgresql+psycopg://gw:s3cr%40t@db.internal:5432/silentgw",
    }
    settings = load_settings(write(tmp_path, SMALL), environ)
    masked = settings.masked()
    assert masked["mqtt"]["password"] == "**********"
    assert masked["mqtt"]["username"] == "gw"
    assert masked["database_url"] == "postgresql+psycopg://gw:**********@db.internal:5432/silentgw"
    text = json.dumps(masked)
    assert "hunter2" not in text
    assert "s3cr" not in text
    # the settings themselves keep the real values
    assert settings.database_url.endswith("gw:s3cr%40t@db.internal:5432/silentgw")
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "hunter2"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///var/lib/silentgw.db", "sqlite:///var/lib/silentgw.db"),
        ("postgresql://gw@db/silentgw", "postgresql://gw@db/silentgw"),
        ("postgresql://gw:pw@db/silentgw", "postgresql://gw:**********@db/silentgw"),
        ("postgresql://gw:@db/silentgw", "postgresql://gw:**********@db/silentgw"),
        ("postgresql://db/silentgw?user=gw&password=pw", "postgresql://db/silentgw?user=gw&password=**********"),
        (
            "postgresql://db/silentgw?password=pw&sslmode=require",
            "postgresql://db/silentgw?password=**********&sslmode=require",
        ),
    ],
)
def test_masked_hides_a_password_anywhere_in_the_database_url(url: str, shown: str) -> None:
    assert Settings(database_url=url).masked()["database_url"] == shown


def test_masked_hides_secret_driver_options(tmp_path: Path) -> None:
    driver = 'driver = { kind = "http", url = "https://x", api_key = "k-123", token = "t-456" }'
    text = _with(f'[[devices]]\nid = "cloud"\nkind = "sensor"\n{driver}\n')
    masked = load_settings(write(tmp_path, text), {}).masked()
    driver = next(d for d in masked["devices"] if d["id"] == "cloud")["driver"]
    assert driver == {"kind": "http", "url": "https://x", "api_key": "**********", "token": "**********"}


def test_masked_is_the_whole_effective_config(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SMALL), {"SILENTGW_API__PORT": "8081"})
    masked = settings.masked()
    assert masked["api"] == {"host": "127.0.0.1", "port": 8081, "max_body_bytes": 1_048_576}
    assert masked["devices"][0]["antennas"] == [{"port": 1, "zone": "shelf-1", "role": None}]
    assert masked["mqtt"]["password"] is None  # nothing to hide, and no pretence there is


def test_only_portal_antennas_have_a_role(tmp_path: Path) -> None:
    text = SMALL.replace('{ port = 1, zone = "shelf-1" }', '{ port = 1, zone = "shelf-1", role = "inner" }')
    assert text != SMALL
    with pytest.raises(ConfigError, match=r"devices\.0\.antennas\.0\.role: only portal zones"):
        load_settings(write(tmp_path, text), {})


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        # each raised out of load_settings as something other than ConfigError (found by tests/fuzz)
        (b"\x80 = 1\n", {}, "not UTF-8"),  # UnicodeDecodeError
        (b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n", {}, "nested too deep"),  # RecursionError in tomllib
        (None, {"SILENTGW_ZONES": "[" * 3000 + "]" * 3000}, "nested too deep"),  # RecursionError in the JSON
        (b"a = " + b"9" * 4301 + b"\n", {}, "not valid TOML"),  # ValueError: past the int conversion limit
    ],
)
def test_unreadable_settings_are_a_config_error(
    tmp_path: Path, content: bytes | None, environ: dict[str, str], message: str
) -> None:
    path = None
    if content is not None:
        path = tmp_path / "silentgw.toml"
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ)


def test_a_config_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_settings(tmp_path, {})
