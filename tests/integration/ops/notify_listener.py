"""What systemd does with ``$NOTIFY_SOCKET``, for the tests: a datagram socket, read on a thread of its own (so a
test can block its event loop and still see when each message really arrived)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: when it arrived (``time.monotonic``) and its assignments."""

    at: float
    fields: dict[str, str]

    @classmethod
    def parse(cls, at: float, data: bytes) -> Message:
        return cls(at, dict(line.split("=", 1) for line in data.decode().splitlines() if line))


class Listener:
    """A notification socket at ``path``; ``messages`` fills as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[Message] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="notify listener", daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _read(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                data = self._sock.recv(4096)
                with self._changed:
                    self.messages.append(Message.parse(time.monotonic(), data))
                    self._changed.notify_all()

    def with_field(self, key: str, value: str | None = None) -> list[Message]:
        """The messages so far that carry ``key`` (set to ``value``, when given)."""
        with self._changed:
            return [m for m in self.messages if key in m.fields and value in (None, m.fields[key])]

    def wait_for(self, key: str, value: str | None = None, *, timeout: float = 10.0) -> Message:
        """The first message carrying ``key`` (= ``value``), waiting up to ``timeout`` seconds (blocking)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (found := [m for m in self.messages if key in m.fields and value in (None, m.fields[key])]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key}={value or '*'} within {timeout} s; got {self.messages}")
                self._changed.wait(left)
            return found[0]
