"""Soak: `silentgw run` fed 10,000 tag reads a second over MQTT for ten minutes; does its memory stay flat?

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 10000] [--tags 4000]

A private Mosquitto (on a free port) carries the reads of one Zebra reader's IoT Connector with four antennas, each on
a shelf of its own aisle: a publisher process publishes its batched output (fifty SIMPLE tag data events per message,
QoS 1, from a persistent session), cycling over every tag on the shelves, at ``--rate`` reads a second. The gateway is
`silentgw run` on a SQLite database, with the catalog entered through its API. Every 10 s the gateway's resident set
(VmRSS in /proc/PID/status) is sampled. The growth is from the samples just after the warm-up (20 % of the run, at
most two minutes) to the last ones, each the mean of three samples; the goal is under 5 %.

At the end the publisher stops and, once the pipeline has taken what was offered, the stock (GET /api/v1/stock) is
compared with the truth: every tag on its shelf. The last line is JSON: ``rss_growth_pct``, ``reads_per_s`` offered and
ingested, ``final_stock_ok``, ``minutes``, and the RSS samples in MiB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from silentgw.gateway.identity import encode_sgtin
from silentgw.simulator.demo_store import DEMO_PRODUCTS

HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"
BATCH = 50
SAMPLE_EVERY = 10.0
AISLES = 4
TOPIC = "zebra/soak/data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def shelf_tags(tags: int) -> list[tuple[int, str]]:
    """(antenna, EPC hex) of every tag: aisle ``a`` holds items of product ``a`` only, on antenna ``a``."""
    out = []
    for n in range(tags):
        aisle = n % AISLES + 1
        product = DEMO_PRODUCTS[aisle - 1]
        epc = encode_sgtin(gtin=product.gtin, serial=str(n), company_prefix_length=len(product.company_prefix))
        out.append((aisle, epc.lower()))
    return out


def settings(directory: Path, *, api: int, broker: int) -> Path:
    locations = "\n".join(f'[[locations]]\nid = "aisle-{a}"\nname = "Aisle {a}"\nparent = "store"\n'
                          for a in range(1, AISLES + 1))  # fmt: skip
    zones = "\n".join(f'[[zones]]\nid = "shelf-{a}"\nname = "Shelf {a}"\nkind = "shelf"\nlocation = "aisle-{a}"\n'
                      for a in range(1, AISLES + 1))  # fmt: skip
    driver = (
        f'kind = "zebra-iotc", port = {broker}, data_topic = "{TOPIC}", client_id = "silentgw-soak", '
        "clean_start = false, session_expiry = 3600, qos = 1"
    )
    antennas = ", ".join(f'{{ port = {a}, zone = "shelf-{a}" }}' for a in range(1, AISLES + 1))
    config = directory / "silentgw.toml"
    config.write_text(f"""
database_url = "sqlite:///{directory / "soak.db"}"
log_level = "WARNING"

[site]
id = "soak"
name = "Soak store"

[api]
port = {api}

[mqtt]
port = {broker}
events = true

[[locations]]
id = "store"
name = "Soak store"
kind = "site"

{locations}
{zones}
[[devices]]
id = "reader-soak"
kind = "reader"
location = "store"
driver = {{ {driver} }}
antennas = [{antennas}]
""")
    return config


def publish(port: int, rate: int, seconds: float, tags: int) -> None:
    """The publisher process: ``rate`` reads a second for ``seconds``, fifty a message; prints how many it sent, the
    wall-clock time it started and the seconds it took."""
    population = shelf_tags(tags)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="zebra-soak", clean_session=False,
                         protocol=MQTTProtocolVersion.MQTTv311)  # fmt: skip
    client.max_inflight_messages_set(1000)
    client.connect(HOST, port, keepalive=30)
    client.loop_start()
    per_tick = max(1, rate // 10 // BATCH)  # messages every 0.1 s
    sent = number = cursor = 0
    began, start = time.time(), time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
        for _ in range(per_tick):
            events = []
            for _ in range(BATCH):
                antenna, epc = population[cursor]
                cursor = (cursor + 1) % len(population)
                number += 1
                read = {"eventNum": number, "format": "epc", "idHex": epc, "antenna": antenna, "peakRssi": -52,
                        "reads": 1}  # fmt: skip
                events.append({"data": read, "timestamp": stamp, "type": "SIMPLE"})
            client.publish(TOPIC, orjson.dumps(events), qos=1)
            sent += BATCH
        tick += 1
        time.sleep(max(0.0, start + tick * 0.1 - time.monotonic()))
    client.disconnect()
    client.loop_stop()
    print(sent, began, time.monotonic() - start, flush=True)


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match.group(1))


def counter(api: httpx.Client, name: str) -> float:
    text = api.get("/metrics").text
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def run(minutes: float, rate: int, tags: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="silentgw-soak-"))
    broker_port, api_port = free_port(), free_port()
    (directory / "mosquitto.conf").write_text(f"listener {broker_port} {HOST}\nallow_anonymous true\n"
                                              "max_queued_messages 0\nmax_inflight_messages 0\n")  # fmt: skip
    command = [sys.executable, "-m", "silentgw", "--config", str(settings(directory, api=api_port, broker=broker_port))]
    made = subprocess.run([*command, "keys", "create", "--role", "admin"], capture_output=True, text=True,
                          cwd=directory, check=False)  # fmt: skip
    if made.returncode != 0:
        sys.exit(f"silentgw keys create failed: {made.stderr}")
    key = made.stdout.strip().splitlines()[-1]
    broker = subprocess.Popen([MOSQUITTO, "-c", str(directory / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    log = (directory / "run.log").open("wb")
    gateway = subprocess.Popen([*command, "run"], cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    publisher: subprocess.Popen[str] | None = None
    api = httpx.Client(base_url=f"http://{HOST}:{api_port}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    try:
        for _ in range(600):
            try:
                if api.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if gateway.poll() is not None:
                raise SystemExit(f"silentgw run exited; see {directory / 'run.log'}")
            time.sleep(0.1)
        for product in DEMO_PRODUCTS[:AISLES]:
            body = {"gtin": product.gtin, "sku": product.sku, "name": product.name, "price": str(product.price),
                    "currency": "EUR"}  # fmt: skip
            api.post("/api/v1/products", json=body).raise_for_status()
        seconds = minutes * 60
        publisher = subprocess.Popen([sys.executable, __file__, "--publish", str(broker_port), "--rate", str(rate),
                                      "--tags", str(tags), "--minutes", str(minutes)], stdout=subprocess.PIPE,
                                     text=True)  # fmt: skip
        start = time.monotonic()
        samples: list[tuple[float, int]] = []
        while publisher.poll() is None:
            samples.append((time.monotonic() - start, rss_kib(gateway.pid)))
            time.sleep(max(0.0, start + len(samples) * SAMPLE_EVERY - time.monotonic()))
        said = (publisher.stdout.read() if publisher.stdout else "").split()
        assert len(said) == 3, f"the publisher failed (exit status {publisher.returncode})"
        offered, began, elapsed = int(said[0]), float(said[1]), float(said[2])
        ingested = 0.0
        for _ in range(120):  # until the pipeline has taken what was offered (or stops taking more)
            before, ingested = ingested, counter(api, "silentgw_reads_total")
            if ingested >= offered or (ingested == before and ingested > 0):
                break
            time.sleep(1)
        caught_up = time.time() - began
        truth = {(p.gtin, f"aisle-{a}"): tags // AISLES + (1 if a - 1 < tags % AISLES else 0)
                 for a, p in enumerate(DEMO_PRODUCTS[:AISLES], start=1)}  # fmt: skip
        levels = {(lv["gtin"], lv["location"]): lv["quantity"]
                  for lv in api.get("/api/v1/stock", params={"limit": 500}).json()["items"]}  # fmt: skip
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(60)
        except subprocess.TimeoutExpired:
            gateway.kill()
        broker.kill()
        api.close()
        log.close()
    warm = min(120.0, 0.2 * seconds)
    after = [kib for t, kib in samples if t >= warm]
    base, last = statistics.mean(after[:3]), statistics.mean(after[-3:])
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "minutes": minutes,
        "tags": tags,
        "reads_per_s_offered": round(offered / elapsed),
        "reads_per_s_ingested": round(ingested / caught_up),
        "reads_offered": offered,
        "reads_ingested": int(ingested),
        "rss_warm_mib": round(base / 1024, 1),
        "rss_last_mib": round(last / 1024, 1),
        "rss_growth_pct": round((last - base) / base * 100, 2),
        "final_stock_ok": levels == truth,
        "rss_samples_mib": [round(kib / 1024, 1) for _, kib in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=10_000, help="reads per second offered")
    parser.add_argument("--tags", type=int, default=4000, help="tags on the shelves")
    parser.add_argument("--publish", type=int, help=argparse.SUPPRESS)  # the publisher process, on this broker port
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.rate, args.minutes * 60, args.tags)
        return
    figures = run(args.minutes, args.rate, args.tags)
    f = figures
    print(f"soak: {f['minutes']} min at {f['reads_per_s_offered']} reads/s offered, {f['reads_per_s_ingested']} "
          f"ingested; RSS {f['rss_warm_mib']} -> {f['rss_last_mib']} MiB ({f['rss_growth_pct']:+.2f} %); "
          f"final stock {'right' if f['final_stock_ok'] else 'WRONG'}")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
