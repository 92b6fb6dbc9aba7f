"""Prints, at the end of a run, how many generated inputs each parser was fed."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per parser: the inputs it was fed in this run."""
    if COUNTS:
        terminalreporter.section("fuzzing: inputs fed per parser")
        for parser, count in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{parser:<24} {count:>9,}")
