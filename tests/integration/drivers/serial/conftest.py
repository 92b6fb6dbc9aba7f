"""Fixtures of the serial driver tests: a real pseudo-terminal and a sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.drivers.serial.harness import Pty, Sink


@pytest.fixture
def pty() -> Iterator[Pty]:
    """A fresh pseudo-terminal, closed after the test."""
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def sink() -> Sink:
    """A fresh sink."""
    return Sink()
