"""`silentgw simulate store-day`: plays the configured store's serial devices and writes the ground truth."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from silentgw.cli import app

CONFIG = """
[[locations]]
id = "store"
name = "Store"

[[zones]]
id = "shelf"
name = "Shelf"
kind = "shelf"
location = "store"

[[zones]]
id = "back"
name = "Backroom"
kind = "backroom"
location = "store"

[[zones]]
id = "rx"
name = "Receiving"
kind = "receiving"
location = "store"

[[zones]]
id = "dock"
name = "Dock door"
kind = "dock_door"
location = "store"

[[zones]]
id = "till"
name = "Checkout"
kind = "checkout"
location = "store"

[[zones]]
id = "door"
name = "Exit"
kind = "exit"
location = "store"

[[devices]]
id = "uhf"
kind = "reader"
driver = {{ kind = "uhf-m100", url = "{run}/uhf" }}
antennas = [
    {{ port = 1, zone = "shelf" }}, {{ port = 2, zone = "back" }}, {{ port = 3, zone = "rx" }},
    {{ port = 4, zone = "dock", role = "inner" }}, {{ port = 5, zone = "dock", role = "outer" }},
    {{ port = 6, zone = "till" }}, {{ port = 7, zone = "door", role = "inner" }},
    {{ port = 8, zone = "door", role = "outer" }},
]

[[devices]]
id = "fridge-1"
kind = "sensor"
driver = {{ kind = "sensor-lines", url = "{run}/fridge" }}
"""


def test_a_fast_store_day_plays_and_leaves_its_ground_truth(tmp_path: Path) -> None:
    config = tmp_path / "store.toml"
    config.write_text(CONFIG.format(run=tmp_path))
    truth = tmp_path / "truth.json"
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "simulate", "store-day", "--speed", "0", "--hours", "3", "--truth", str(truth)],
        env={},
    )
    assert result.exit_code == 0, result.output
    assert "simulating uhf" in result.output
    assert "simulating fridge-1" in result.output
    assert "sales" in result.output
    data = orjson.loads(truth.read_bytes())
    assert data["happened"]["arrived"] > 0
    assert set(data["location"].values()) <= {"shelf", "back", "rx", "till", None}
    assert all(key.startswith("(01)") for key in data["keys"].values())
    assert not (tmp_path / "uhf").exists()  # the pseudo-terminal's link is gone with the simulation


def test_a_fast_store_day_runs_through_the_pipeline_and_sums_up(tmp_path: Path) -> None:
    config = tmp_path / "store.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "store.db"}"\n' + CONFIG.format(run=tmp_path))
    result = CliRunner().invoke(app, ["-c", str(config), "simulate", "store-day", "--fast", "--hours", "2"], env={})
    assert result.exit_code == 0, result.output
    assert "demo catalog: 36 products and 12 members added" in result.output
    assert "simulating" not in result.output  # no device is played: the pipeline reads the day itself
    summary = result.output[result.output.index("2 h store day") :]
    assert " reads (" in summary
    assert all(word in summary for word in ("arrivals", "moves", "departures", "passes"))
    assert "unpaid-exit alarms: 1" in summary
    sales = summary.split("sales: ")[1].split(" ")[0]
    assert int(sales) > 0
    assert f"sales: {sales} (of {sales} made)" in summary
    assert "final stock: Store " in summary
    assert not (tmp_path / "uhf").exists()
