"""`silentgw run` inside the limits its unit sets, checked with the kernel's own mechanisms rather than trusted:

- ``MemoryDenyWriteExecute=yes``: the gateway runs under ``PR_SET_MDWE`` (Linux 6.3+), the kernel's refusal of
  writable-and-executable memory and of making memory executable later, which is what the unit's seccomp filter
  enforces; it must read a reader, serve ``/metrics`` and stop cleanly all the same.
- ``SystemCallFilter=``: every system call it makes while starting, reading a serial reader, serving and stopping
  (traced with strace) is one the unit's filter lets through.

This machine has no service manager to start the unit with, so these are the parts of its sandbox that a process
can be put under directly; ``systemd-analyze`` checks the rest (test_units.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice
from tests.integration.ops.gateway_process import free_port, scrape, settings_file, tag, wait_until_serving
from tests.integration.ops.units import here, needs_systemd_analyze, settings

pytestmark = pytest.mark.anyio

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

# Sets PR_SET_MDWE and becomes the command it is given: the setting survives execve, as under systemd.
UNDER_MDWE = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(f"PR_SET_MDWE refused: errno {ctypes.get_errno()}")
os.execv(sys.argv[1], sys.argv[1:])
"""


def mdwe_available() -> bool:
    """Whether the kernel has PR_SET_MDWE (asked of a fresh child: once set, it cannot be cleared)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0)


needs_mdwe = pytest.mark.skipif(not mdwe_available(), reason="the kernel has no PR_SET_MDWE (Linux 6.3+)")


@dataclass
class Ran:
    returncode: int
    observations: float
    log: str


async def run_gateway_reading(tmp_path: Path, prefix: list[str]) -> Ran:
    """`silentgw run` behind ``prefix``: a reader reads three tags five times, ``/metrics`` must show all fifteen,
    then SIGTERM must stop it with status 0."""
    port = free_port()
    config = settings_file(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())
    log = tmp_path / "stderr.log"
    try:
        with log.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                *prefix, here(), "--config", str(config), "run", cwd=tmp_path, stdout=err, stderr=err
            )
        try:
            await wait_until_serving(base, process)
            await asyncio.wait_for(polled.wait(), 30)
            for _ in range(5):
                for n in (1, 2, 3):
                    reader.write(m100_notice(tag(n), -50.0))
                await asyncio.sleep(0.2)
            observations = 0.0
            for _ in range(100):
                metrics = await scrape(base)
                observations = metrics["silentgw_device_observations_total"].value(device="reader-1")
                if observations >= 15:
                    break
                await asyncio.sleep(0.1)
            os.kill(_gateway_pid(process.pid, prefix), signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        reader.close()
    return Ran(returncode, observations, log.read_text(errors="replace"))


def _gateway_pid(pid: int, prefix: list[str]) -> int:
    """The gateway's process: ``pid`` itself, or under strace its child (strace does not pass SIGTERM on)."""
    if not prefix or Path(prefix[0]).name != "strace":
        return pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@needs_mdwe
async def test_the_gateway_runs_where_memory_cannot_be_both_writable_and_executable(tmp_path: Path) -> None:
    inherited = subprocess.run(
        [sys.executable, "-c", UNDER_MDWE, sys.executable, "-c",
         f"import ctypes; print(ctypes.CDLL(None).prctl({PR_GET_MDWE}, 0, 0, 0, 0))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert inherited.stdout.strip() == str(PR_MDWE_REFUSE_EXEC_GAIN)  # what the gateway will run under

    ran = await run_gateway_reading(tmp_path, [sys.executable, "-c", UNDER_MDWE])

    assert ran.observations == 15, ran.log
    assert ran.returncode == 0, ran.log


@cache
def _expand(item: str) -> frozenset[str]:
    """A system call, or every call of a ``@group`` (groups nest), as this systemd defines them."""
    if not item.startswith("@"):
        return frozenset({item})
    listed = subprocess.run(["systemd-analyze", "syscall-filter", item], capture_output=True, text=True, check=True)
    names: set[str] = set()
    for line in listed.stdout.splitlines()[1:]:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            names |= _expand(entry)
    return frozenset(names)


def unit_allows() -> frozenset[str]:
    """The system calls silentgw.service lets through: its allow-list less its deny-lists (``~...``)."""
    allowed: set[str] = set()
    denied: set[str] = set()
    for value in settings("silentgw.service", "SystemCallFilter"):
        into = denied if value.startswith("~") else allowed
        for item in value.removeprefix("~").split():
            into |= _expand(item)
    assert allowed, "the unit has no SystemCallFilter allow-list"
    return frozenset(allowed - denied)


CALL = re.compile(r"^\d+\s+([a-z_0-9]+)\(")
REFUSED_EXEC = re.compile(r"^\d+\s+(mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC.*= -1 E")


@needs_systemd_analyze
@needs_mdwe
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
async def test_every_system_call_the_gateway_makes_is_one_its_unit_allows(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    strace = [shutil.which("strace") or "strace", "-f", "-qq", "-o", str(trace), "--"]

    ran = await run_gateway_reading(tmp_path, [*strace, sys.executable, "-c", UNDER_MDWE])

    assert ran.observations == 15, ran.log
    assert ran.returncode == 0, ran.log
    lines = trace.read_text(errors="replace").splitlines()
    made = {m.group(1) for line in lines if (m := CALL.match(line))}
    assert {"openat", "ioctl", "accept4", "sendto", "fdatasync"} <= made  # the trace saw the port, API and database
    outside = made - unit_allows()
    if os.geteuid() == 0:
        outside -= {"fchown"}  # SQLite hands files to the database's owner only when run as root; the unit is not
    assert outside == set(), f"system calls the unit's SystemCallFilter refuses: {sorted(outside)}"
    assert [line for line in lines if REFUSED_EXEC.match(line)] == []  # nothing even tried and was refused
