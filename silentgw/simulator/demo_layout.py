"""The demo store's hardware: the example store's layout, with every device a simulated serial one.

``make demo`` needs no broker, so the demo trades the example's MQTT readers for M100 modules on pseudo-terminals:
one module per antenna (an M100 has one), each reporting the antenna port the example gives it, so zones, portals and
the store day are the same. Card readers and sensors keep their own serial protocols. Displays, which the example
drives over MQTT, are left out of the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from silentgw.gateway.config import Settings

__all__ = ["demo_layout"]

_UHF = {"uhf-m100", "zebra-iotc", "impinj-iot"}


def demo_layout(example: Settings, run_dir: Path) -> Settings:
    """``example`` with its devices replaced by simulated serial ones whose ports live in ``run_dir``."""
    devices: list[dict[str, Any]] = []
    for device in example.devices:
        base = {"name": device.name, "location": device.location}
        if device.driver.kind in _UHF:
            for antenna in device.antennas:
                devices.append({
                    **base,
                    "id": f"{device.id}-a{antenna.port}",
                    "kind": "reader",
                    "driver": {"kind": "uhf-m100", "url": str(run_dir / f"{device.id}-a{antenna.port}"),
                               "antenna": antenna.port, "power_dbm": 26},
                    "antennas": [antenna.model_dump()],
                })  # fmt: skip
        elif device.driver.kind in ("em4100", "sensor-lines"):
            driver = {**device.driver.model_dump(), "url": str(run_dir / device.id)}
            devices.append({**base, "id": device.id, "kind": device.kind, "driver": driver,
                            "antennas": [a.model_dump() for a in device.antennas]})  # fmt: skip
    return Settings.model_validate({**example.model_dump(), "devices": devices})
