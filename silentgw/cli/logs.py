"""Logging for the command line: JSON lines for machines, the familiar one-line text for people.

Only the entry point configures logging (docs/STYLE.md, point 11); it calls :func:`setup_logging` once, and again
when the settings' ``log_level`` is known. Where stderr is a terminal a person reads it, so it gets text; anywhere
else (journald, a container's log collector, a file) it gets one JSON object a line, which a collector parses
without guessing where a message ends: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``exc`` with the
traceback when there is one, and any ``extra={...}`` fields the call passed.

Under systemd, when stderr is the journal's stream (``$JOURNAL_STREAM`` names its device and inode), each line
starts with the ``<N>`` priority prefix of sd-daemon(3): journald strips it and files the line at that priority,
so ``journalctl -p warning -u silentgw`` finds the warnings while the message stays plain JSON.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TextIO

import orjson

__all__ = ["JsonFormatter", "LogFormat", "setup_logging", "to_journal"]


class LogFormat(StrEnum):
    """``--log-format``: ``auto`` chooses by stderr (text on a terminal, JSON elsewhere)."""

    AUTO = "auto"
    JSON = "json"
    TEXT = "text"

    @property
    def json(self) -> bool | None:
        """What :func:`setup_logging` takes: True, False, or None to choose by the stream."""
        return None if self is LogFormat.AUTO else self is LogFormat.JSON


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord carries; anything else on a record came from ``extra=`` and is written as a field of its own.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}

# sd-daemon(3) priorities: syslog's numbers for Python's levels.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def _priority(levelno: int) -> int:
    return next((priority for level, priority in _PRIORITIES if levelno >= level), 7)


def _plain(value: object) -> object:
    """What orjson cannot write (an exception, a path, a set) is written as its text."""
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; with ``journal_prefix`` each line starts with its sd-daemon priority, ``<4>``."""

    def __init__(self, *, journal_prefix: bool = False) -> None:
        super().__init__()
        self.journal_prefix = journal_prefix

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exc"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in fields:
                fields[key] = value
        line = orjson.dumps(fields, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()
        return f"<{_priority(record.levelno)}>{line}" if self.journal_prefix else line


def to_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether ``stream`` is the journal's stream socket, by the device and inode ``$JOURNAL_STREAM`` names (its
    mere presence is not enough: a child whose stderr was redirected inherits the variable)."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):  # closed, or a stream without a descriptor (pytest's capture)
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs, told apart from others so that a second call replaces it."""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def setup_logging(
    level: str | int = logging.INFO,
    json: bool | None = None,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr), as JSON lines or as text; the handler.

    ``json`` None chooses by the stream: text on a terminal, JSON elsewhere. Calling it again replaces the handler
    (the level of the settings, known only once they are loaded, then takes over from the first call's).
    """
    stream = stream if stream is not None else sys.stderr
    environ = environ if environ is not None else os.environ
    as_json = not _is_terminal(stream) if json is None else json
    handler = _Handler(stream)
    if as_json:
        handler.setFormatter(JsonFormatter(journal_prefix=to_journal(stream, environ)))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
