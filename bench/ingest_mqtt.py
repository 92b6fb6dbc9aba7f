"""MQTT ingest: how fast tag reads get from Mosquitto into observations, against the broker's and paho's ceilings.

    .venv/bin/python bench/ingest_mqtt.py [--messages N]

One stream of Zebra IoT Connector tag events, published once through a private Mosquitto (started here, on a free
port, with unlimited queues so nothing is dropped), is drained by three consumers in turn, each from a persistent
session of its own that subscribed (QoS 1) before the stream was published, so each gets exactly the same messages:

(a) ``mosquitto_sub`` (C: the broker's ceiling), (b) a bare paho-mqtt subscriber that only counts (the client library's
ceiling), (c) the ``zebra-iotc`` driver turning them into ``TagRead`` observations (one emit per message).

Twice: one read per message (``--messages`` messages), then fifty per message (a tenth as many messages). Each figure
is reads per second from connecting to the last read. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.drivers.observations import Handed, Rejected, TagRead

HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"
EXPIRY = 3600
CONSUMERS = ("mosquitto_sub", "paho_noop", "driver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private Mosquitto whose queues never drop: the stream waits in full for each consumer."""
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)


def stream(messages: int, per_message: int) -> list[bytes]:
    """Zebra tag data events: distinct EPCs, and a timestamp that moves on every read (no free cache hits)."""
    out: list[bytes] = []
    n = 0
    for _ in range(messages):
        events = []
        for _ in range(per_message):
            minute, second, ms = n // 60000 % 60, n // 1000 % 60, n % 1000
            events.append(
                f'{{"data":{{"eventNum":{n},"format":"epc","idHex":"e28011700000020{n:09x}","antenna":{1 + n % 4},'
                f'"peakRssi":{-40 - n % 30},"reads":1,"channel":917.25}},'
                f'"timestamp":"2026-11-24T09:{minute:02d}:{second:02d}.{ms:03d}+0000","type":"SIMPLE"}}'
            )
            n += 1
        out.append((events[0] if per_message == 1 else "[" + ",".join(events) + "]").encode())
    return out


def client(client_id: str, port: int, *, clean: bool, inflight: int = 20) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = EXPIRY
    c.connect(HOST, port, clean_start=clean, properties=props)
    return c


def prepare_sessions(port: int, topic: str, ids: Sequence[str]) -> None:
    """Each consumer's persistent session, subscribed at QoS 1, then left offline while the stream is queued."""
    for client_id in ids:
        done = threading.Event()
        c = client(client_id, port, clean=True)
        c.on_subscribe = lambda *a, done=done: done.set()
        c.loop_start()
        c.subscribe(topic, qos=1)
        assert done.wait(5), "no SUBACK"
        c.disconnect()
        c.loop_stop()


def publish(port: int, topic: str, payloads: Sequence[bytes]) -> float:
    """Publish at QoS 1 with a window of in-flight messages; returns seconds until the broker acked the last."""
    c = client("bench-publisher", port, clean=True, inflight=1000)
    c.loop_start()
    start = time.perf_counter()
    for i in range(0, len(payloads), 20_000):  # message ids wrap at 65,535: wait before reusing them
        for info in [c.publish(topic, p, qos=1) for p in payloads[i : i + 20_000]]:
            info.wait_for_publish(60)
    elapsed = time.perf_counter() - start
    c.disconnect()
    c.loop_stop()
    return elapsed


def run_mosquitto_sub(port: int, topic: str, client_id: str, messages: int, out: Path) -> float:
    start = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(
            ["mosquitto_sub", "-h", HOST, "-p", str(port), "-V", "mqttv5", "-q", "1", "-c", "-x", str(EXPIRY),
             "-i", client_id, "-t", topic, "-C", str(messages), "-W", "120"],
            stdout=sink, check=True,
        )  # fmt: skip
    elapsed = time.perf_counter() - start
    with out.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    assert lines == messages, f"mosquitto_sub printed {lines} lines, expected {messages}"
    return elapsed


def run_paho_noop(port: int, client_id: str, messages: int) -> float:
    count = 0
    done = threading.Event()

    def on_message(c: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == messages:
            done.set()

    start = time.perf_counter()
    c = client(client_id, port, clean=False)
    c.on_message = on_message
    c.loop_start()
    assert done.wait(300), f"paho got {count} of {messages}"
    elapsed = time.perf_counter() - start
    c.disconnect()
    c.loop_stop()
    return elapsed


async def run_driver(port: int, topic: str, client_id: str, reads: int) -> float:
    settings = ZebraIotcReader.Settings(
        port=port, data_topic=topic, client_id=client_id, clean_start=False, session_expiry=EXPIRY,
        max_buffered=1_000_000,
    )  # fmt: skip
    reader = ZebraIotcReader("bench", settings)
    seen = 0
    bad = 0
    done = asyncio.Event()

    async def emit(batch: Sequence[Handed]) -> None:
        nonlocal seen, bad
        for o in batch:
            if type(o) is TagRead:
                seen += 1
            elif type(o) is Rejected:
                bad += 1
        if seen >= reads:
            done.set()

    start = time.perf_counter()
    task = asyncio.create_task(reader.run(emit))
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - start
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert bad == 0, f"driver: {bad} rejects"
    assert seen == reads, f"driver: {seen} reads, expected {reads}"
    return elapsed


def measure(port: int, label: str, messages: int, per_message: int, workdir: Path) -> dict[str, float]:
    topic = f"bench/{label}"
    ids = {name: f"bench-{label}-{name}" for name in CONSUMERS}
    prepare_sessions(port, topic, list(ids.values()))
    payloads = stream(messages, per_message)
    reads = messages * per_message
    size = sum(map(len, payloads)) / len(payloads)
    took = publish(port, topic, payloads)
    print(f"{label}: {messages:,} messages x {per_message} reads ({size:,.0f} bytes each), "
          f"published in {took:.2f} s and queued for 3 sessions")  # fmt: skip
    seconds = {
        "mosquitto_sub": run_mosquitto_sub(port, topic, ids["mosquitto_sub"], messages, workdir / f"{label}.out"),
        "paho_noop": run_paho_noop(port, ids["paho_noop"], messages),
        "driver": asyncio.run(run_driver(port, topic, ids["driver"], reads)),
    }
    rates = {name: reads / s for name, s in seconds.items()}
    for name in CONSUMERS:
        per_second = messages / seconds[name]
        print(f"  {name:14} {seconds[name]:7.3f} s  {rates[name]:>13,.0f} reads/s  {per_second:>11,.0f} msg/s")
    print(f"  driver / paho_noop = {rates['driver'] / rates['paho_noop']:.0%}")
    return {name: round(rate) for name, rate in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages with one read (batched: a tenth)")
    args = parser.parse_args()
    if not shutil.which("mosquitto_sub") or not Path(MOSQUITTO).exists():
        sys.exit("needs mosquitto and mosquitto_sub")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc, port = start_broker(workdir)
        try:
            print(f"private mosquitto on {HOST}:{port}; python {sys.version.split()[0]}, paho-mqtt {paho_version}")
            single = measure(port, "single", args.messages, 1, workdir)
            batched = measure(port, "batched", max(args.messages // 10, 1), 50, workdir)
        finally:
            proc.kill()
            proc.wait()
    print(json.dumps({"single": single, "batched": batched}))


if __name__ == "__main__":
    main()
