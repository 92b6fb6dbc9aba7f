"""Logs as a collector and a person meet them: JSON lines on a pipe, text on a terminal, priorities for journald."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import orjson
import pytest

from silentgw.cli.logs import LogFormat, setup_logging

logger = logging.getLogger("silentgw.test.logs")


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[None]:
    """The root logger as it was (pytest's own handlers included) after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def pipe() -> Iterator[tuple[TextIO, TextIO]]:
    """A real pipe, as a service's stderr is when a collector reads it: (writer, reader)."""
    r, w = os.pipe()
    with os.fdopen(w, "w", buffering=1) as writer, os.fdopen(r) as reader:
        yield writer, reader


def lines(writer: TextIO, reader: TextIO) -> list[str]:
    writer.close()
    return reader.read().splitlines()


def test_on_a_pipe_each_record_is_one_json_line_with_its_exception_and_extra_fields(
    pipe: tuple[TextIO, TextIO],
) -> None:
    writer, reader = pipe
    setup_logging("INFO", stream=writer, environ={})
    logger.debug("not at INFO")
    logger.info("device %s up", "reader-1", extra={"device": "reader-1", "since": dt.date(2026, 11, 24)})
    try:
        raise RuntimeError("the port went away\nfor good")
    except RuntimeError:
        logger.exception("driver of %s failed", "reader-1")

    out = lines(writer, reader)

    assert len(out) == 2  # the traceback's lines stay inside their record's line
    first, second = (orjson.loads(line) for line in out)
    assert first["message"] == "device reader-1 up"
    assert first["level"] == "INFO"
    assert first["logger"] == "silentgw.test.logs"
    assert first["device"] == "reader-1"
    assert first["since"] == "2026-11-24"  # what JSON cannot carry is written as text
    assert abs(dt.datetime.fromisoformat(first["time"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=10)
    assert "exc" not in first
    assert second["level"] == "ERROR"
    assert second["exc"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the port went away\nfor good" in second["exc"]


def test_on_a_terminal_it_is_the_familiar_text() -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w", buffering=1) as terminal:
        setup_logging("INFO", stream=terminal, environ={})
        logger.warning("shelf %s low", "1A")
        written = os.read(master, 4096).decode()
    os.close(master)

    assert " WARNING silentgw.test.logs: shelf 1A low" in written
    assert not written.lstrip().startswith("{")


def test_the_format_can_be_forced_either_way(pipe: tuple[TextIO, TextIO]) -> None:
    writer, reader = pipe
    setup_logging("INFO", LogFormat.TEXT.json, stream=writer, environ={})
    logger.info("as text")
    setup_logging("INFO", LogFormat.JSON.json, stream=writer, environ={})  # a second call replaces the first
    logger.info("as json")

    out = lines(writer, reader)

    assert len(out) == 2
    assert out[0].endswith("INFO silentgw.test.logs: as text")
    assert orjson.loads(out[1])["message"] == "as json"
    assert LogFormat.AUTO.json is None


def test_on_the_journals_stream_each_line_carries_its_priority(pipe: tuple[TextIO, TextIO]) -> None:
    writer, reader = pipe
    st = os.fstat(writer.fileno())
    setup_logging("DEBUG", stream=writer, environ={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    logger.critical("c")

    out = lines(writer, reader)

    assert [line[:3] for line in out] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert [orjson.loads(line[3:])["message"] for line in out] == ["d", "i", "w", "e", "c"]


def test_a_journal_stream_that_is_not_stderr_gets_no_prefix(pipe: tuple[TextIO, TextIO], tmp_path: Path) -> None:
    writer, reader = pipe
    other = os.stat(tmp_path)  # what a child inherits when its stderr was redirected elsewhere
    setup_logging("INFO", stream=writer, environ={"JOURNAL_STREAM": f"{other.st_dev}:{other.st_ino}"})
    logger.warning("w")

    (line,) = lines(writer, reader)

    assert orjson.loads(line)["message"] == "w"


def test_a_stream_without_a_descriptor_is_not_a_terminal() -> None:
    buffer = io.StringIO()
    setup_logging(logging.INFO, stream=buffer, environ={"JOURNAL_STREAM": "1:2"})
    logger.info("to a buffer")
    assert orjson.loads(buffer.getvalue())["message"] == "to a buffer"
