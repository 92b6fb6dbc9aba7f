"""The sd_notify client against real datagram sockets, as systemd listens: a path, or a name in the abstract
namespace; and nothing at all where no service manager asked for notifications."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from silentgw.cli.systemd import Notifier, watchdog_interval


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound at a path, like /run/systemd/notify: (socket, $NOTIFY_SOCKET)."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        yield sock, str(path)


def test_messages_arrive_as_one_datagram_of_newline_separated_assignments(
    listener: tuple[socket.socket, str],
) -> None:
    sock, address = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address})

    assert notifier.ready("serving on 127.0.0.1:8000")
    assert notifier.watchdog()
    assert notifier.status("12 reads\n3 sales")
    assert notifier.stopping()
    notifier.close()

    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1\nSTATUS=serving on 127.0.0.1:8000", "WATCHDOG=1", "STATUS=12 reads 3 sales", "STOPPING=1"]


def test_an_abstract_socket_is_named_with_an_at_sign() -> None:
    name = f"silentgw-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = Notifier(f"@{name}")
        assert notifier.ready()
        notifier.close()
        assert sock.recv(4096) == b"READY=1"


def test_without_a_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.stopping()


def test_a_manager_that_went_away_is_logged_once_and_does_not_stop_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, logger="silentgw.cli.systemd"):
        assert not notifier.ready()
        assert not notifier.watchdog()
    notifier.close()
    assert len(caplog.records) == 1
    assert "cannot notify the service manager" in caplog.records[0].getMessage()


def test_the_watchdog_wants_a_ping_every_half_of_its_timeout() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}) == 0.5


@pytest.mark.parametrize(
    "environ",
    [{}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "soon"}, {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}],
    ids=["unset", "zero", "not a number", "meant for another process"],
)
def test_no_watchdog_expects_pings(environ: dict[str, str]) -> None:
    assert watchdog_interval(environ, pid=4242) is None
