"""A process's logs as they leave it: a stderr that is a pipe (journald, a collector) gets JSON lines that parse, a
stderr that is a terminal gets text a person reads."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

LOGGING = """
import logging
from silentgw.cli.logs import setup_logging
setup_logging("INFO")
log = logging.getLogger("silentgw.drivers.supervisor")
log.info("device %s: up", "reader-1", extra={"device": "reader-1"})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("driver of device %s failed", "reader-1")
"""


def test_a_process_whose_stderr_is_a_pipe_writes_json_lines() -> None:
    done = subprocess.run([sys.executable, "-c", LOGGING], capture_output=True, text=True, timeout=60, check=True)

    records = [orjson.loads(line) for line in done.stderr.splitlines()]

    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "silentgw.drivers.supervisor", "device reader-1: up"),
        ("ERROR", "silentgw.drivers.supervisor", "driver of device reader-1 failed"),
    ]
    assert records[0]["device"] == "reader-1"
    assert records[1]["exc"].endswith("ZeroDivisionError: division by zero")


def read_all(fd: int) -> bytes:
    """What a terminal's master end holds once its other end is closed."""
    written = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed and all was read
            return written
        if not chunk:
            return written
        written += chunk


def test_a_process_whose_stderr_is_a_terminal_writes_text() -> None:
    master, slave = os.openpty()
    try:
        try:
            subprocess.run([sys.executable, "-c", LOGGING], stderr=slave, timeout=60, check=True)
        finally:
            os.close(slave)
        text = read_all(master).decode()
    finally:
        os.close(master)

    assert "INFO silentgw.drivers.supervisor: device reader-1: up" in text
    assert "Traceback (most recent call last):" in text
    assert not text.lstrip().startswith("{")
