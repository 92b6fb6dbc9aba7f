"""The systemd units as systemd itself judges them: ``systemd-analyze verify`` finds nothing to say about them, and
``systemd-analyze security`` rates the gateway's sandbox as an operator wants it (the score is printed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.ops.units import NAMES, needs_systemd_analyze, render, settings

pytestmark = needs_systemd_analyze

EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+)")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False)


def test_both_units_verify_without_a_word_about_them(tmp_path: Path) -> None:
    units = [render(name, tmp_path) for name in NAMES]

    done = analyze("verify", *map(str, units))

    about = [line for line in (done.stdout + done.stderr).splitlines() if "silentgw" in line]
    assert done.returncode == 0, done.stderr
    assert about == []  # an unknown key, a bad value or a missing binary would be named here


def test_verify_does_catch_a_mistake_in_a_unit(tmp_path: Path) -> None:
    unit = render("silentgw.service", tmp_path)
    unit.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))

    done = analyze("verify", str(unit))

    assert "Unknown key 'WatchdogSecs'" in done.stderr


@pytest.mark.parametrize(("name", "at_most"), [("silentgw.service", 2.0), ("silentgw-simulator.service", 2.5)])
def test_the_sandbox_rates_ok(name: str, at_most: float, tmp_path: Path) -> None:
    done = analyze("security", "--offline=yes", "--no-pager", str(render(name, tmp_path)))

    found = EXPOSURE.search(done.stdout)
    assert found is not None, done.stdout + done.stderr
    score = float(found.group(2))
    print(f"systemd-analyze security: {found.group(1)} exposure {score}")  # the figure to report (pytest -s)
    assert score <= at_most, done.stdout
    passed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("✓")}
    wanted = {"MemoryDenyWriteExecute=", "SystemCallArchitectures=", "ProtectKernelModules=", "LockPersonality="}
    assert wanted <= passed


def test_the_gateway_unit_says_what_the_install_layout_needs() -> None:
    unit = "silentgw.service"
    assert settings(unit, "Type") == ["notify"]
    assert settings(unit, "NotifyAccess") == ["main"]
    assert settings(unit, "ExecStart") == ["/opt/silentgw/.venv/bin/silentgw run"]
    assert settings(unit, "StateDirectory") == ["silentgw"]
    environment = dict(value.split("=", 1) for value in settings(unit, "Environment"))
    assert environment == {
        "SILENTGW_CONFIG": "/etc/silentgw/silentgw.toml",
        "SILENTGW_DATABASE_URL": "sqlite:////var/lib/silentgw/silentgw.db",  # under the StateDirectory
    }
    assert set(settings(unit, "DeviceAllow")) == {"char-ttyUSB rw", "char-ttyACM rw"}
    assert settings(unit, "SupplementaryGroups") == ["dialout"]
