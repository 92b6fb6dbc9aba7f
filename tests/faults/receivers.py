"""Who the gateway's events go to, as the fault tests play them: an MQTT subscriber on a persistent session, and a
webhook receiver (a small HTTP server that can go down and come back on the same port)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from silentgw.gateway.webhooks import verify

__all__ = ["EventSubscriber", "WebhookReceiver"]


class EventSubscriber:
    """A QoS 1 subscriber to ``silentgw/{site}/events/#`` on a persistent session (a fixed client id, clean session
    off), reconnecting on its own: every event id it gets, duplicates included."""

    def __init__(self, port: int, site: str) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"events-{site}", clean_session=False,
                                  protocol=MQTTProtocolVersion.MQTTv311)  # fmt: skip
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"silentgw/{site}/events/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the event subscriber was not subscribed"

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.ids.append(orjson.loads(message.payload)["id"])

    def received(self) -> list[str]:
        """The ids received so far, in order, duplicates included."""
        with self.lock:
            return list(self.ids)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class WebhookReceiver:
    """An HTTP server taking the gateway's signed webhook requests on ``port`` (a free one the first time); every
    event id of every request whose signature verifies, duplicates included."""

    def __init__(self, secret: str = "fault-test-secret-0123456789") -> None:
        self.secret = secret
        self.port = 0
        self.ids: list[str] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where the gateway POSTs."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen (on the same port as before, after a stop)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ok = verify(receiver.secret, body, dict(self.headers.items()))
                with receiver.lock:
                    if ok:
                        receiver.ids += [event["id"] for event in orjson.loads(body)]
                    else:
                        receiver.bad_signatures += 1
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="webhook receiver", daemon=True).start()

    def stop(self) -> None:
        """Go down: the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> list[str]:
        """The ids received so far, duplicates included."""
        with self.lock:
            return list(self.ids)
