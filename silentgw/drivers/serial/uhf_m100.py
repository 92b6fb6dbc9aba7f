"""UHF RFID modules of the MagicRF M100 / R200 family (JRD-100, YRM100, M5Stack Unit UHF-RFID): the 0xBB protocol.

Sources: the MagicRF "M100 & QM100 Firmware Manual" (shipped by M5Stack as ``Unit-RFID-UHF-Protocol-EN.pdf`` for its
Unit UHF-RFID, https://docs.m5stack.com/en/unit/uhf_rfid) and the EL-UHF-RMT01 protocol page
(https://electron.id/protocol/el-uhf-rmt01-protocol), which documents the same frames for R200-based modules.

A frame is ``BB type command length(2, MSB first) parameters checksum 7E``; ``type`` is 0x00 for a command from the
host, 0x01 for the module's response, 0x02 for a notice it sends by itself (a tag seen during polling); the checksum
is the low byte of the sum of the bytes from ``type`` to the last parameter. A failed command answers with command
0xFF and an error code. The example frames of the manual, which the tests replay byte for byte::

    single poll                 BB 00 22 00 00 22 7E
    multiple poll, 10000 times  BB 00 27 00 03 22 27 10 83 7E       (0x22 reserved, then the count, MSB first)
    stop multiple poll          BB 00 28 00 00 28 7E                (answer: BB 01 28 00 01 00 2A 7E)
    set power to 20 dBm         BB 00 B6 00 02 07 D0 8F 7E          (power in hundredths of a dBm)
    module information         BB 00 03 00 01 00 04 7E             (0x00: hardware version; the answer carries it
                                                                    as text, e.g. "M100 26dBm V1.0")
    tag notice                  BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E
                                RSSI 0xC9 (a signed byte in dBm: -55), PC 0x3400 (bits 15-11: 6 words of EPC),
                                EPC 30751FEB705C5904E3D50D70, the tag's CRC-16 3A76 over PC+EPC
    no tag answered             BB 01 FF 00 01 15 16 7E

The tag's CRC-16 is EPC Gen2's (polynomial 0x1021, preset 0xFFFF, ones' complement), checked here so a notice that
passed the module's own checks but not the tag's is set aside rather than reported as a different tag.

In multiple polling the module sends a notice for each tag it reads and nothing at all while no tag is in the field
(EL-UHF-RMT01: "when the Interrogator reads a tag, it sends a notification frame"), so silence alone cannot tell an
empty shelf from a module that lost power. Every command frame has its response frame, though, and the module
information query is answered whatever is in the field: the driver asks it every ``ping_every`` seconds, and the
answer is a heartbeat, the module's own sign of life.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import ClassVar, Literal, NamedTuple

from pydantic import Field, model_validator

from silentgw.drivers.base import CommandRefused, DeviceUnavailable, Emit
from silentgw.drivers.commands import Command, SetPower, StartReading, StopReading
from silentgw.drivers.observations import DeviceStatus, Observation, Rejected, TagRead
from silentgw.drivers.serial.framing import FrameError, FrameParser, Noise, scan
from silentgw.drivers.serial.port import SerialPort, SerialSettings, stream
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = [
    "ERROR_CODES",
    "ErrorNotice",
    "FrameError",
    "M100Parser",
    "Noise",
    "Response",
    "TagNotice",
    "UhfM100Reader",
    "UhfM100Settings",
    "crc16",
    "decode_frame",
    "encode_frame",
    "module_info",
    "set_power",
    "split_frames",
    "start_inventory",
    "stop_inventory",
]

logger = logging.getLogger(__name__)

HEADER = 0xBB
END = 0x7E
TYPE_COMMAND, TYPE_RESPONSE, TYPE_NOTICE = 0x00, 0x01, 0x02
MODULE_INFO, SINGLE_POLL, MULTIPLE_POLL, STOP_POLL, SET_POWER, ERROR = 0x03, 0x22, 0x27, 0x28, 0xB6, 0xFF
INVENTORY_FAIL = 0x15
MAX_PARAMETERS = 255
"""Longer than any frame the module sends (a tag notice carries at most 67 bytes): a header claiming more is noise."""
OVERHEAD = 7  # header, type, command, two length bytes, checksum, end

ERROR_CODES: dict[int, str] = {
    0x09: "reading tag memory failed",
    0x10: "writing tag memory failed",
    0x12: "killing the tag failed",
    0x13: "locking the tag failed",
    0x14: "block permalock failed",
    INVENTORY_FAIL: "no tag answered the inventory (or its reply failed the CRC)",
    0x16: "tag access failed (wrong access password?)",
    0x17: "the module could not parse the command frame",
    0x1A: "NXP ChangeConfig failed",
    0x1B: "NXP ChangeEAS failed",
    0x1D: "NXP EAS alarm: no tag answered",
    0x20: "frequency hopping found no free channel",
    0x2A: "NXP ReadProtect failed",
    0x2B: "NXP Reset ReadProtect failed",
    0x2E: "Impinj Monza QT failed",
}
"""The module's error codes, from the manual's error code table."""
_GEN2_OPERATIONS = {0xA0: "read", 0xB0: "write", 0xC0: "lock", 0xD0: "kill", 0xE0: "block permalock"}
_GEN2_ERRORS = {0x0: "other error", 0x3: "memory overrun", 0x4: "memory locked", 0xB: "insufficient power"}


class TagNotice(NamedTuple):
    """A tag seen while polling: its RSSI in dBm, PC word and EPC."""

    rssi: int
    pc: int
    epc: bytes


class ErrorNotice(NamedTuple):
    """The module's answer to a command that failed (command 0xFF)."""

    code: int

    @property
    def meaning(self) -> str:
        """What the code means, per the manual."""
        return error_meaning(self.code)


class Response(NamedTuple):
    """The module's answer to a command that went through."""

    command: int
    parameters: bytes


Notice = TagNotice | ErrorNotice | Response


def error_meaning(code: int) -> str:
    """The manual's meaning of an error code (codes 0xA0-0xEF carry an EPC Gen2 tag error in the low nibble)."""
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    operation = _GEN2_OPERATIONS.get(code & 0xF0)
    if operation is not None:
        return f"the tag refused the {operation}: {_GEN2_ERRORS.get(code & 0x0F, 'non-specific error')}"
    return "unknown error code"


def checksum(body: bytes) -> int:
    """The frame checksum: the low byte of the sum of ``type`` .. last parameter."""
    return sum(body) & 0xFF


def crc16(data: bytes) -> int:
    """EPC Gen2 CRC-16 (CCITT polynomial 0x1021, preset 0xFFFF, ones' complement of the result)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc ^ 0xFFFF


def encode_frame(kind: int, command: int, parameters: bytes = b"") -> bytes:
    """A whole frame around ``parameters``."""
    if len(parameters) > 0xFFFF:
        raise ValueError("parameters longer than a frame can say")
    body = bytes([kind, command]) + len(parameters).to_bytes(2, "big") + parameters
    return bytes([HEADER]) + body + bytes([checksum(body), END])


def start_inventory(polls: int = 0xFFFF) -> bytes:
    """The multiple-poll command: inventory ``polls`` rounds (1-65535), each tag seen sent as a notice."""
    if not 0 < polls <= 0xFFFF:
        raise ValueError("polls must be 1..65535")
    return encode_frame(TYPE_COMMAND, MULTIPLE_POLL, bytes([0x22]) + polls.to_bytes(2, "big"))


def module_info() -> bytes:
    """The module information query (hardware version): answered with or without a tag in the field."""
    return encode_frame(TYPE_COMMAND, MODULE_INFO, b"\x00")


def stop_inventory() -> bytes:
    """The stop-multiple-poll command."""
    return encode_frame(TYPE_COMMAND, STOP_POLL)


def set_power(dbm: float) -> bytes:
    """The set-transmit-power command (the module takes hundredths of a dBm)."""
    centi = round(dbm * 100)
    if not 0 <= centi <= 0xFFFF:
        raise ValueError("power out of range")
    return encode_frame(TYPE_COMMAND, SET_POWER, centi.to_bytes(2, "big"))


def split_frames(buffer: bytes) -> tuple[list[bytes | Noise], bytes]:
    """The frames and the noise in ``buffer``, in order, and the partial frame left at its end.

    A frame is taken on its length field and closing 0x7E; a 0xBB that is not followed by both (a 0xBB inside
    noise, or inside a frame cut off at the start) is noise, and the search resumes at the next byte.
    """
    return scan(buffer, HEADER, _measure)


def _measure(buffer: bytes, start: int) -> tuple[int, bool] | None:
    if len(buffer) - start < 5:
        return None  # the length field has not arrived yet
    length = int.from_bytes(buffer[start + 3 : start + 5], "big")
    if length > MAX_PARAMETERS:
        return start + 1, False
    end = start + OVERHEAD + length
    if end > len(buffer):
        return None
    return (end, True) if buffer[end - 1] == END else (start + 1, False)


def decode_frame(frame: bytes) -> Notice:
    """What one whole frame says; :class:`FrameError` names what is wrong with it."""
    if len(frame) < OVERHEAD or frame[0] != HEADER or frame[-1] != END:
        raise FrameError("not a frame: it needs 0xBB, type, command, length, checksum and 0x7E")
    length = int.from_bytes(frame[3:5], "big")
    if length != len(frame) - OVERHEAD:
        raise FrameError(f"length field says {length} parameter bytes, the frame has {len(frame) - OVERHEAD}")
    body = frame[1:-2]
    if checksum(body) != frame[-2]:
        raise FrameError(f"bad checksum 0x{frame[-2]:02X} (the bytes sum to 0x{checksum(body):02X})")
    kind, command, parameters = frame[1], frame[2], frame[5:-2]
    if kind == TYPE_NOTICE and command in (SINGLE_POLL, MULTIPLE_POLL):
        # some manual transcriptions show multiple-poll notices with command 0x27: take both
        return _decode_tag(parameters)
    if kind == TYPE_RESPONSE and command == ERROR:
        if not parameters:
            raise FrameError("error frame without an error code")
        return ErrorNotice(parameters[0])
    if kind == TYPE_RESPONSE:
        return Response(command, parameters)
    if kind == TYPE_COMMAND:
        raise FrameError(f"a command frame (0x{command:02X}) coming from the device: an echo of our own?")
    raise FrameError(f"unknown frame type 0x{kind:02X} with command 0x{command:02X}")


def _decode_tag(parameters: bytes) -> TagNotice:
    if len(parameters) < 5:
        raise FrameError(f"tag notice of {len(parameters)} bytes: too short for RSSI, PC and CRC")
    pc = int.from_bytes(parameters[1:3], "big")
    words = pc >> 11
    carried = len(parameters) - 5
    if carried != 2 * words:
        raise FrameError(f"PC 0x{pc:04X} says {words} EPC words, the notice carries {carried} bytes")
    crc = int.from_bytes(parameters[-2:], "big")
    expected = crc16(parameters[1:-2])
    if crc != expected:
        raise FrameError(f"tag CRC 0x{crc:04X} does not match its PC and EPC (0x{expected:04X})")
    rssi = parameters[0] - 256 if parameters[0] > 127 else parameters[0]
    return TagNotice(rssi, pc, parameters[3:-2])


class M100Parser(FrameParser):
    """Tag reads out of an M100 byte stream; module errors other than "no tag" are set aside with their meaning."""

    def __init__(self, device: str, *, antenna: int = 1) -> None:
        super().__init__(device, start_byte=HEADER, measure=_measure)
        self.antenna = antenna

    def frame(self, frame: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """A tag read for a notice, a reject for a module error, a heartbeat for the answer to the module information
        query, nothing for answers to our other commands."""
        notice = decode_frame(frame)
        if isinstance(notice, TagNotice):
            if not notice.epc:  # a tag whose PC says no EPC words: nothing to know it by
                return [Rejected(self.device, frame, f"tag notice without an EPC (PC 0x{notice.pc:04X})", now)]
            return [TagRead(notice.epc.hex().upper(), self.device, self.antenna, float(notice.rssi), now)]
        if isinstance(notice, Response) and notice.command == MODULE_INFO:
            info = notice.parameters[1:].decode("ascii", "replace").strip("\x00 ")
            return [DeviceStatus(self.device, "heartbeat", now, f"module information: {info}")]
        if isinstance(notice, ErrorNotice) and notice.code != INVENTORY_FAIL:
            # 0x15 is every empty polling round, many a second with no tag in the field: not a fault
            return [Rejected(self.device, frame, f"module error 0x{notice.code:02X}: {notice.meaning}", now)]
        return []


class UhfM100Settings(SerialSettings):
    """Options of an M100/R200 module."""

    baudrate: int = Field(default=115200, gt=0)
    antenna: int = Field(default=1, ge=1)
    """The antenna number reads are reported on (these modules have one port)."""
    inventory: bool = True
    """Start multi-poll inventory whenever the port opens (a ``StopReading`` command turns it off until started)."""
    polls: int = Field(default=0xFFFF, ge=1, le=0xFFFF)
    """Polling rounds per multiple-poll command; the module stops after that many."""
    reissue_every: float | None = Field(default=300.0, gt=0)
    """Seconds between re-sending the multiple-poll command, so inventory goes on after ``polls`` rounds."""
    power_dbm: float | None = Field(default=None, ge=0)
    """Transmit power set whenever the port opens; ``None`` leaves the module's own."""
    max_power_dbm: float = Field(default=30.0, gt=0, le=33)
    ping_every: float | None = Field(default=30.0, gt=0)
    """Seconds between module information queries, whose answers are the module's heartbeat (each followed by the
    multiple-poll command, which a module that lost power has forgotten); None: never ask."""
    # Polling with no tag in the field, the module sends nothing (see the module docstring); its answers to the
    # module information query every ping_every (30 s) are what it says then. 90 s is three unanswered queries.
    silence_s: float | None = Field(default=90.0, ge=0)
    """``SetPower`` above this is refused (M100 modules top out at 26 dBm, R200 ones near 30)."""

    @model_validator(mode="after")
    def _power_within_max(self) -> UhfM100Settings:
        if self.power_dbm is not None and self.power_dbm > self.max_power_dbm:
            raise ValueError(f"power_dbm {self.power_dbm} is above max_power_dbm {self.max_power_dbm}")
        return self


class UhfM100Reader:
    """Driver of an M100/R200 UHF module on a serial port: inventory, power, tag reads with RSSI."""

    kind: ClassVar[str] = "uhf-m100"
    transport: ClassVar[Literal["serial", "mqtt"]] = "serial"
    Settings: ClassVar[type[UhfM100Settings]] = UhfM100Settings

    def __init__(self, device: str, settings: UhfM100Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock
        # what the reader should be doing: commands change it, and every (re)open applies it again
        self.inventory = settings.inventory
        self.power_dbm = settings.power_dbm
        self._port: SerialPort | None = None

    @classmethod
    def parser(cls, device: str, settings: UhfM100Settings) -> M100Parser:
        """The pure parser of the 0xBB frames."""
        return M100Parser(device, antenna=settings.antenna)

    async def run(self, emit: Emit) -> None:
        """Open the port, set power and start inventory, emit tag reads until cancelled or the port is lost."""
        async with SerialPort(self.settings) as port:
            keeper: asyncio.Task[None] | None = None
            self._port = port
            try:
                if self.power_dbm is not None:
                    await port.write(set_power(self.power_dbm))
                if self.inventory:
                    await port.write(start_inventory(self.settings.polls))
                if self.settings.reissue_every is not None or self.settings.ping_every is not None:
                    keeper = asyncio.create_task(self._keep_polling(port))
                parser = self.parser(self.device, self.settings)
                await stream(port, parser, emit, device=self.device, clock=self.clock)
            except asyncio.CancelledError:
                if self.inventory:
                    # leave the module quiet rather than polling into a closed port until it is next opened
                    with contextlib.suppress(DeviceUnavailable, TimeoutError):
                        await asyncio.wait_for(port.write(stop_inventory()), timeout=0.5)
                raise
            finally:
                self._port = None
                if keeper is not None:
                    keeper.cancel()
                    await asyncio.gather(keeper, return_exceptions=True)

    async def send(self, command: Command) -> None:
        """Start or stop inventory, or set power; applied now if the port is open, and again whenever it reopens."""
        if isinstance(command, StartReading):
            self.inventory = True
            frame = start_inventory(self.settings.polls)
        elif isinstance(command, StopReading):
            self.inventory = False
            frame = stop_inventory()
        elif isinstance(command, SetPower):
            self._check_power(command.dbm)
            self.power_dbm = command.dbm
            frame = set_power(command.dbm)
        else:
            raise CommandRefused(f"{self.kind} reader {self.device} does not take {type(command).__name__}")
        port = self._port
        if port is None:
            logger.info("reader %s is not connected: %s applies when it is", self.device, command)
            return
        await port.write(frame)

    def _check_power(self, dbm: float) -> None:
        if not 0 <= dbm <= self.settings.max_power_dbm:
            raise CommandRefused(f"reader {self.device}: {dbm} dBm is outside 0..{self.settings.max_power_dbm} dBm")

    async def _keep_polling(self, port: SerialPort) -> None:
        """Re-send the multiple-poll command every ``reissue_every``; ask for a sign of life every ``ping_every``."""
        s = self.settings
        loop = asyncio.get_running_loop()
        reissue_at = ping_at = loop.time()
        while True:
            now = loop.time()
            if s.reissue_every is not None and now >= reissue_at + s.reissue_every:
                reissue_at = now
                if self.inventory:
                    await port.write(start_inventory(s.polls))
            if s.ping_every is not None and now >= ping_at + s.ping_every:
                ping_at = now
                await port.write(module_info())
                if self.inventory:  # a module that lost power forgot it was polling: tell it again
                    await port.write(start_inventory(s.polls))
            due = [at + every for at, every in ((reissue_at, s.reissue_every), (ping_at, s.ping_every)) if every]
            await asyncio.sleep(max(0.0, min(due) - loop.time()))
