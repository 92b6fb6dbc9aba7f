"""Simulated serial devices on pseudo-terminals, byte-exact to the real ones: the drivers cannot tell the difference.

- :class:`SimM100`: an M100/R200 UHF module. Like the real one it stays quiet until the host starts multiple
  polling, answers stop, set-power and the module information query with the manual's responses, and reports each
  tag as a notice frame (RSSI as a signed byte in dBm, PC word, EPC, the tag's CRC-16); see
  :mod:`silentgw.drivers.serial.uhf_m100` for the sources.

Each device can lose its power (``power(False)``): like the hardware it then says nothing at all, answers nothing,
and announces nothing; the gateway must notice the silence by itself. Back on, an M100 has forgotten that it was
polling, as a module that lost power has.
- :class:`SimEm4100`: an RDM6300-style 125 kHz card reader (STX, ten hex digits, two checksum digits, ETX).
- :class:`SimSensorLines`: a sensor board printing one reading per line, ``key=value`` or JSON.
"""

from __future__ import annotations

import logging

import orjson

from silentgw.drivers.observations import SensorReading, TagRead
from silentgw.drivers.serial import em4100, uhf_m100
from silentgw.simulator.pty import PtyDevice

__all__ = ["SimEm4100", "SimM100", "SimSensorLines", "m100_notice"]

logger = logging.getLogger(__name__)

_STOP_ANSWER = uhf_m100.encode_frame(uhf_m100.TYPE_RESPONSE, uhf_m100.STOP_POLL, b"\x00")
_POWER_ANSWER = uhf_m100.encode_frame(uhf_m100.TYPE_RESPONSE, uhf_m100.SET_POWER, b"\x00")
_INFO_ANSWER = uhf_m100.encode_frame(uhf_m100.TYPE_RESPONSE, uhf_m100.MODULE_INFO, b"\x00M100 26dBm V1.0")


def m100_notice(epc_hex: str, rssi: float | None, *, user_memory: bool = False) -> bytes:
    """The notice frame an M100 module sends for one tag (``user_memory``: the tag's PC has its UMI bit set)."""
    epc = bytes.fromhex(epc_hex)
    if len(epc) % 2:
        raise ValueError("an EPC is whole 16-bit words")
    pc = (len(epc) // 2) << 11 | (0x0400 if user_memory else 0)  # PC bits 15-11: EPC length in words; bit 10: UMI
    tag = pc.to_bytes(2, "big") + epc
    dbm = max(-128, min(127, round(rssi if rssi is not None else -60.0)))
    parameters = bytes([dbm & 0xFF]) + tag + uhf_m100.crc16(tag).to_bytes(2, "big")
    return uhf_m100.encode_frame(uhf_m100.TYPE_NOTICE, uhf_m100.SINGLE_POLL, parameters)


class SimM100:
    """An M100/R200 module on a pseudo-terminal."""

    def __init__(self, port: PtyDevice) -> None:
        self.port = port
        self.polling = False
        self.powered = True
        self.power_centi_dbm: int | None = None
        self._rest = b""

    def open(self) -> None:
        """Open the terminal and start listening for the host's commands."""
        self.port.open(self._heard)

    def power(self, on: bool) -> None:
        """Switch the module on or off; off, it neither reads nor answers (and forgets that it was polling)."""
        self.powered = on
        self.polling = self.polling and on

    def _heard(self, data: bytes) -> None:
        if not self.powered:
            return
        frames, self._rest = uhf_m100.split_frames(self._rest + data)
        for frame in frames:
            if isinstance(frame, uhf_m100.Noise) or frame[1] != uhf_m100.TYPE_COMMAND:
                continue
            command = frame[2]
            if command == uhf_m100.MULTIPLE_POLL:
                self.polling = True
            elif command == uhf_m100.STOP_POLL:
                self.polling = False
                self.port.write(_STOP_ANSWER)
            elif command == uhf_m100.SET_POWER:
                self.power_centi_dbm = int.from_bytes(frame[5:7], "big")
                self.port.write(_POWER_ANSWER)
            elif command == uhf_m100.MODULE_INFO:
                self.port.write(_INFO_ANSWER)

    def report(self, read: TagRead | SensorReading) -> None:
        """Send the tag's notice, if the host has started polling (a real module is silent until then)."""
        if self.polling and self.powered and isinstance(read, TagRead):
            self.port.write(m100_notice(read.epc, read.rssi))


class SimEm4100:
    """An EM4100 card reader on a pseudo-terminal; it speaks whenever a card is in its field."""

    def __init__(self, port: PtyDevice) -> None:
        self.port = port
        self.powered = True

    def open(self) -> None:
        """Open the terminal."""
        self.port.open()

    def power(self, on: bool) -> None:
        """Switch the reader on or off (off, it sends nothing)."""
        self.powered = on

    def report(self, read: TagRead | SensorReading) -> None:
        """Send the card's frame."""
        if self.powered and isinstance(read, TagRead):
            self.port.write(em4100.encode_frame(read.epc))


class SimSensorLines:
    """A sensor board printing one reading per line."""

    def __init__(self, port: PtyDevice, *, json_lines: bool = False) -> None:
        self.port = port
        self.json_lines = json_lines
        self.powered = True

    def open(self) -> None:
        """Open the terminal."""
        self.port.open()

    def power(self, on: bool) -> None:
        """Switch the board on or off (off, it prints nothing)."""
        self.powered = on

    def report(self, reading: TagRead | SensorReading) -> None:
        """Print the reading as a line, with its unit where the format carries one."""
        if not self.powered or not isinstance(reading, SensorReading):
            return
        if self.json_lines:
            line = orjson.dumps({reading.quantity: reading.value, "unit": reading.unit}) + b"\n"
        else:
            line = f"{reading.quantity}={reading.value}\r\n".encode()
        self.port.write(line)
