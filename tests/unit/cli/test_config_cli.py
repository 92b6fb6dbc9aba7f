"""`silentgw config` and `silentgw db` as a user runs them: settings shown with secrets masked, bad ones refused."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner, Result

from silentgw.cli import app
from silentgw.gateway.config import load_settings
from silentgw.gateway.store.database import connect, current_revision, head_revision
from silentgw.gateway.store.models import Base

CONFIG = """
database_url = "postgresql://gw:db-s3cret@db.internal:5432/silentgw"

[site]
id = "shop"
name = "Shop"

[api]
port = 8081

[mqtt]
username = "gw"
password = "mqtt-s3cret"
"""


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run where no silentgw.toml lies around, so only the file a test names is read
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """``silentgw ARGS`` with ``env`` as its only SILENTGW_* variables (the caller's own are hidden from it)."""
    clean: dict[str, str | None] = {name: None for name in os.environ if name.upper().startswith("SILENTGW_")}
    return CliRunner().invoke(app, list(args), env={**clean, **(env or {})})


def write(tmp_path: Path, text: str, name: str = "gw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def shown(result: Result) -> dict[str, object]:
    """The settings `config show` printed, after its comment line."""
    assert result.exit_code == 0, result.output
    comment, _, data = result.stdout.partition("\n")
    assert comment.startswith("# effective settings from ")
    settings: dict[str, object] = json.loads(data)
    return settings


# config show ---------------------------------------------------------------------------------------------------------


def test_config_show_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG)
    result = run("--config", str(config), "config", "show")
    settings = shown(result)
    assert result.stdout.startswith(f"# effective settings from {config}\n")
    assert settings["api"] == {"host": "127.0.0.1", "port": 8081, "max_body_bytes": 1_048_576}
    assert settings["site"] == {"id": "shop", "name": "Shop", "timezone": "UTC"}
    assert settings["mqtt"]["password"] == "**********"  # type: ignore[index]
    assert settings["mqtt"]["username"] == "gw"  # type: ignore[index]
    assert settings["database_url"] == "postgresql://gw:**********@db.internal:5432/silentgw"
    assert "s3cret" not in result.output


SECRETS = """
database_url = "postgresql://gw:db-s3cret@db.internal:5432/silentgw?sslmode=require&password=q-s3cret"

[mqtt]
username = "gw"
password = "mqtt-s3cret"

[timeseries]
url = "http://vm:ts-s3cret@metrics.internal:8428"
token = "tok-s3cret"

[[locations]]
id = "shop"
name = "Shop"
kind = "site"

[[devices]]
id = "dock-reader"
kind = "reader"
driver = { kind = "zebra-iotc", username = "fx", password = "dev-s3cret", url = "mqtts://fx:url-s3cret@b:8883" }

[[devices]]
id = "cloud-scale"
kind = "sensor"
driver = { kind = "generic-json", url = "https://api.example/v1?api_key=key-s3cret&site=1", secret = "cs-s3cret" }
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_holds_no_secret_wherever_it_is_written(tmp_path: Path, as_json: bool) -> None:
    result = run("-c", str(write(tmp_path, SECRETS)), "config", "show", *(["--json"] if as_json else []))
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    settings = json.loads(result.stdout if as_json else result.stdout.partition("\n")[2])
    assert settings["timeseries"]["url"] == "http://vm:**********@metrics.internal:8428"  # who and where stay
    assert settings["devices"][0]["driver"]["url"] == "mqtts://fx:**********@b:8883"
    assert settings["devices"][1]["driver"]["url"] == "https://api.example/v1?api_key=**********&site=1"
    assert settings["database_url"].endswith("?sslmode=require&password=**********")


def test_config_show_json_is_json_alone(tmp_path: Path) -> None:
    result = run("-c", str(write(tmp_path, CONFIG)), "config", "show", "--json")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)
    assert settings["mqtt"]["password"] == "**********"
    assert "s3cret" not in result.stdout


def test_variables_win_over_the_file_in_what_is_shown(tmp_path: Path) -> None:
    env = {"SILENTGW_API__PORT": "9001", "SILENTGW_MQTT__PASSWORD": "env-s3cret"}
    result = run("-c", str(write(tmp_path, CONFIG)), "config", "show", "--json", env=env)
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)
    assert settings["api"]["port"] == 9001
    assert settings["site"]["id"] == "shop"
    assert "s3cret" not in result.stdout


def test_the_file_can_be_named_by_silentgw_config(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG)
    settings = shown(run("config", "show", env={"SILENTGW_CONFIG": str(config)}))
    assert settings["api"] == {"host": "127.0.0.1", "port": 8081, "max_body_bytes": 1_048_576}


def test_silentgw_toml_in_the_working_directory_is_read_by_default(tmp_path: Path) -> None:
    write(tmp_path, CONFIG, name="silentgw.toml")
    result = run("config", "show")
    assert shown(result)["site"] == {"id": "shop", "name": "Shop", "timezone": "UTC"}
    assert result.stdout.startswith("# effective settings from silentgw.toml\n")


def test_without_a_file_the_defaults_are_shown() -> None:
    result = run("config", "show")
    assert shown(result)["api"] == {"host": "127.0.0.1", "port": 8000, "max_body_bytes": 1_048_576}
    assert "no file" in result.stdout.partition("\n")[0]


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("[api]\nport = 99999\n", {}, "api.port"),
        ("[api]\nprot = 1\n", {}, "api.prot: unknown key"),
        ('[[zones]]\nid = "z"\nname = "Z"\nkind = "shelf"\nlocation = "nowhere"\n', {}, "zones.0.location"),
        ("[api\n", {}, "line 1"),
        ("", {"SILENTGW_API__PORT": "zero"}, "SILENTGW_API__PORT"),
        ("", {"SILENTGW_COLOUR": "red"}, "SILENTGW_COLOUR"),
    ],
)
def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path, text: str, env: dict[str, str], named: str) -> None:
    result = run("-c", str(write(tmp_path, text)), "config", "show", env=env)
    assert result.exit_code == 2
    assert named in result.stderr
    assert result.stdout == ""


def test_a_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    result = run("-c", str(tmp_path / "absent.toml"), "config", "show")
    assert result.exit_code == 2
    assert "absent.toml: no such file" in result.stderr


def test_config_example_prints_a_config_that_loads(tmp_path: Path) -> None:
    result = run("config", "example")
    assert result.exit_code == 0
    settings = load_settings(write(tmp_path, result.stdout), {})
    assert settings.devices
    assert settings.zones


# db ------------------------------------------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_named_in_the_config_file(tmp_path: Path) -> None:
    database = tmp_path / "data" / "gw.db"
    config = write(tmp_path, f'database_url = "sqlite:///{database}"\n')
    result = run("-c", str(config), "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert head_revision() in result.stdout
    engine = connect(f"sqlite:///{database}")
    try:
        assert current_revision(engine) == head_revision()
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_uses_the_database_in_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    before = run("db", "current", env={"SILENTGW_DATABASE_URL": url})
    assert before.exit_code == 0, before.output
    assert "current: empty" in before.stdout
    assert run("db", "upgrade", env={"SILENTGW_DATABASE_URL": url}).exit_code == 0
    again = run("db", "upgrade", env={"SILENTGW_DATABASE_URL": url})
    assert again.exit_code == 0, again.output
    after = run("db", "current", env={"SILENTGW_DATABASE_URL": url})
    assert f"current: {head_revision()}" in after.stdout


def test_db_upgrade_refuses_a_bad_config_before_touching_a_database(tmp_path: Path) -> None:
    config = write(tmp_path, f'database_url = "sqlite:///{tmp_path / "gw.db"}"\ncolour = "red"\n')
    result = run("-c", str(config), "db", "upgrade")
    assert result.exit_code == 2
    assert "colour: unknown key" in result.stderr
    assert not (tmp_path / "gw.db").exists()


def test_db_upgrade_on_a_database_that_does_not_answer_exits_1() -> None:
    result = run("db", "upgrade", env={"SILENTGW_DATABASE_URL": "postgresql://gw@127.0.0.1:1/silentgw"})
    assert result.exit_code == 1
    assert result.stderr.startswith("silentgw: could not upgrade")
