"""A Mosquitto of a test's own, on a free port, to stop, kill and start again (the shared one on 1883 stays up)."""

from __future__ import annotations

import contextlib
import getpass
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["HOST", "MOSQUITTO", "PrivateBroker", "broker_up"]

HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"


def broker_up(port: int) -> bool:
    """Whether something accepts connections on ``port``."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
        return True
    return False


class PrivateBroker:
    """A private Mosquitto; with ``persistence`` it keeps retained messages and persistent sessions across a stop."""

    def __init__(self, directory: Path, *, persistence: bool = False) -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port: int = s.getsockname()[1]
        self.config = directory / "mosquitto.conf"
        lines = [f"listener {self.port} {HOST}", "allow_anonymous true", f"persistence {str(persistence).lower()}"]
        if persistence:
            # Run as whoever started it: as root, Mosquitto would drop to user "mosquitto", who cannot write here.
            lines += [f"persistence_location {directory}/", "max_queued_messages 0", f"user {getpass.getuser()}"]
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not broker_up(self.port):
            assert time.monotonic() < deadline, "private mosquitto did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM: it saves its persistence file first)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """Kill it outright, as a power cut would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
