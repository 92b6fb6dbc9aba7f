"""The simulated hardware of a configured store: a voice for every device the settings name, on its own transport.

Serial devices (``uhf-m100``, ``em4100``, ``sensor-lines``) whose ``url`` is a file path get a pseudo-terminal
linked at that path, so the gateway opens it as it would a USB adapter. MQTT readers (``zebra-iotc``,
``impinj-iot``) publish to the broker and topic their settings name, as the real reader would.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from silentgw.drivers.mqtt.impinj_iot import ImpinjIotReader
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.gateway.config import DeviceSettings, Settings
from silentgw.simulator.mqtt_devices import MqttVoice, SimImpinjReader, SimZebraReader
from silentgw.simulator.player import SimDevice
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import SimEm4100, SimM100, SimSensorLines

__all__ = ["rig", "serial_rig"]

logger = logging.getLogger(__name__)


def _voice(device: DeviceSettings) -> SimM100 | SimEm4100 | SimSensorLines | None:
    options = device.driver.model_dump()
    url = str(options.get("url", ""))
    if "://" in url or not url:
        return None  # a network port or none at all: not ours to play
    port = PtyDevice(Path(url))
    kind = device.driver.kind
    if kind == "uhf-m100":
        return SimM100(port)
    if kind == "em4100":
        return SimEm4100(port)
    if kind == "sensor-lines":
        return SimSensorLines(port, json_lines=options.get("format") == "json")
    return None


@contextlib.contextmanager
def serial_rig(settings: Settings) -> Iterator[dict[str, SimDevice]]:
    """Open a simulated serial device for every serial device of ``settings``; close them all on exit."""
    voices: dict[str, SimM100 | SimEm4100 | SimSensorLines] = {}
    try:
        for device in settings.devices:
            voice = _voice(device)
            if voice is not None:
                voice.open()
                voices[device.id] = voice
                logger.info("simulated %s %s on %s", device.driver.kind, device.id, voice.port.path)
        yield dict(voices)
    finally:
        for voice in voices.values():
            voice.port.close()


def _mqtt_voice(device: DeviceSettings) -> SimZebraReader | SimImpinjReader | None:
    options = device.driver.model_dump(exclude={"kind"})
    if device.driver.kind == "zebra-iotc":
        zebra = ZebraIotcReader.Settings.model_validate(options)
        return SimZebraReader(MqttVoice(zebra, name=device.id), data_topic=zebra.data_topic,
                              events_topic=zebra.events_topic)  # fmt: skip
    if device.driver.kind == "impinj-iot":
        impinj = ImpinjIotReader.Settings.model_validate(options)
        return SimImpinjReader(MqttVoice(impinj, name=device.id), event_topic=impinj.event_topic, hostname=device.id)
    return None


@contextlib.contextmanager
def rig(settings: Settings) -> Iterator[dict[str, SimDevice]]:
    """Every device of ``settings`` the simulator can play: serial ones on ptys, MQTT readers on their broker."""
    readers: dict[str, SimZebraReader | SimImpinjReader] = {}
    with serial_rig(settings) as voices:
        try:
            for device in settings.devices:
                reader = _mqtt_voice(device)
                if reader is not None:
                    reader.voice.open()
                    readers[device.id] = reader
                    logger.info("simulated %s %s on %s:%d", device.driver.kind, device.id, reader.voice.settings.host,
                                reader.voice.settings.port)  # fmt: skip
            yield {**voices, **readers}
        finally:
            for reader in readers.values():
                reader.voice.close()
