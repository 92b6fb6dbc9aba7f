"""`silentgw run` as systemd runs it (Type=notify, WatchdogSec=): started with ``$NOTIFY_SOCKET`` naming a socket
this test listens on, as the service manager does, and ``$WATCHDOG_USEC``. It must say READY=1 only once its API
answers, ping WATCHDOG=1 every half of the watchdog's time, serve the pipeline's figures on ``/metrics``, log JSON
lines to a stderr that is not a terminal (the journal), and say STOPPING=1 on SIGTERM before it exits cleanly.

Needs the wiring: serve() starting ``notify_systemd`` beside the server (silentgw/cli/systemd.py), handing the
pipeline to ``create_app`` (its figures: silentgw/gateway/metrics.py) and giving uvicorn ``log_config=None``; main()
calling ``setup_logging`` (silentgw/cli/logs.py). Until ``silentgw.cli.run`` imports ``notify_systemd`` it is
skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from pathlib import Path

import httpx
import orjson
import pytest

from silentgw.cli import run as run_command
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice
from tests.integration.ops.gateway_process import free_port, scrape, settings_file, tag
from tests.integration.ops.notify_listener import Listener
from tests.integration.ops.units import here

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not hasattr(run_command, "notify_systemd"), reason="serve() does not start notify_systemd yet (wiring)"
    ),
]

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s


async def test_run_notifies_ready_once_serving_pings_the_watchdog_and_says_stopping(tmp_path: Path) -> None:
    port = free_port()
    config = settings_file(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())
    log = tmp_path / "stderr.log"
    with Listener(tmp_path / "notify") as listener:
        with log.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                here(), "--config", str(config), "run", cwd=tmp_path, env=environ, stdout=err, stderr=err
            )
        try:
            ready = await asyncio.to_thread(listener.wait_for, "READY", "1", timeout=60)
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                assert (await client.get("/healthz")).status_code == 200  # at once: no retry, no wait
            assert listener.messages[0] == ready  # nothing before it
            await asyncio.wait_for(polled.wait(), 30)
            for _ in range(5):
                for n in (1, 2, 3):
                    reader.write(m100_notice(tag(n), -50.0))
                await asyncio.sleep(0.2)
            for _ in range(100):
                metrics = await scrape(base)
                if metrics["silentgw_reads_total"].value() == 15:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.2)
            process.send_signal(signal.SIGTERM)
            stopping = await asyncio.to_thread(listener.wait_for, "STOPPING", "1", timeout=30)
            returncode = await asyncio.wait_for(process.wait(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            reader.close()
    stderr = log.read_text(errors="replace")

    assert returncode == 0, stderr
    pings = [m.at for m in listener.with_field("WATCHDOG", "1") if m.at < stopping.at]
    assert len(pings) >= 3, listener.messages
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(0.25 < gap < 0.9 for gap in gaps), gaps  # 0.5 s, give or take a busy machine
    assert pings[0] >= ready.at
    # the pipeline's figures, handed to the API by serve()
    assert metrics["silentgw_reads_total"].value() == 15
    assert metrics["silentgw_device_up"].by("device") == {"reader-1": 1}
    assert metrics["silentgw_transitions_total"].value(kind="arrived") == 3
    # the journal gets JSON lines, uvicorn's included
    records = [orjson.loads(line) for line in stderr.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert any("pipeline: 15 reads" in r["message"] for r in records)
