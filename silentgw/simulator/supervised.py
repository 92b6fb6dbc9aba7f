"""The gateway's supervisors, played over a simulated day that goes straight into the pipeline: silences become downs.

``bench/accuracy.py`` feeds a day's observations to :class:`~silentgw.gateway.pipeline.Pipeline` without drivers, so
no supervisor watches the devices. A reader that loses power sends nothing (the day leaves its reads out and adds no
status), and what the gateway would then report is decided here by the supervisors' own
:class:`~silentgw.drivers.supervisor.Silence`, on the day's clock, with each device's bound from its driver settings:
a "down" dated from its last sign of life once it has been silent past its bound, an "up" when it is heard again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping

from silentgw.drivers.base import silence_bound
from silentgw.drivers.observations import DeviceStatus, Observation, SensorReading, TagRead
from silentgw.drivers.registry import Registry
from silentgw.drivers.supervisor import Silence
from silentgw.gateway.config import Settings

__all__ = ["silence_bounds", "supervised"]

_LOOK_EVERY = dt.timedelta(seconds=1)  # as the supervisor looks once a second


def silence_bounds(settings: Settings, registry: Registry | None = None) -> dict[str, float]:
    """Each device's silence bound, from its driver's settings (devices silence is normal for are left out)."""
    registry = registry or Registry.installed()
    bounds: dict[str, float] = {}
    for device in settings.devices:
        bound = silence_bound(registry.settings(device.driver.kind, device.driver.model_dump(exclude={"kind"})))
        if bound is not None:
            bounds[device.id] = bound
    return bounds


def _source(observation: Observation) -> str:
    if type(observation) is TagRead:
        return observation.reader
    if type(observation) is SensorReading:
        return observation.sensor
    assert type(observation) is DeviceStatus
    return observation.device


def supervised(observations: Iterable[Observation], bounds: Mapping[str, float]) -> Iterator[Observation]:
    """``observations`` with the downs and ups the supervisors of devices with ``bounds`` would add, in time order.

    Every device counts as heard at the first observation (the gateway's drivers all come up at its start).
    """
    watches: dict[str, Silence] = {}
    looked: dt.datetime | None = None
    for observation in observations:
        now = observation.time
        if looked is None:
            watches = {device: Silence(device, bound, since=now) for device, bound in bounds.items()}
        if looked is None or now - looked >= _LOOK_EVERY:
            looked = now
            for watch in watches.values():
                down = watch.check(now)
                if down is not None:
                    yield down
        source = watches.get(_source(observation))
        if source is not None:
            up = source.heard(now)
            if up is not None:
                yield up
        yield observation
