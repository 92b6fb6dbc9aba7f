"""Webhooks: the outbox's events POSTed to subscribers' URLs, signed, retried with backoff, parked, replayable.

Each active subscription (``store/webhooks.py``) is a :class:`WebhookSink` in the outbox :class:`Dispatcher`, named
``webhook:<id>``, so it has a cursor of its own and a slow or dead receiver holds up nobody else.

Requests
    ``POST <url>``, ``Content-Type: application/cloudevents-batch+json``: a JSON array of up to
    :attr:`DeliveryPolicy.batch` CloudEvents 1.0 (as :func:`~silentgw.gateway.events.cloudevent` makes them), in
    commit order. Any 2xx answer takes the whole request. Anything else, no answer within the timeout, or a
    redirect (never followed: the signature is for the URL subscribed) fails it, and the same events are sent again.

Signature
    ``Webhook-Signature: t=<unix seconds>,v1=<64 lower-case hex digits>``, where the hex is
    HMAC-SHA256(key = the subscription's secret as UTF-8, message = ``<t>`` + ``.`` + the request body, byte for
    byte). A receiver recomputes it over the raw body (before any JSON parsing), compares in constant time, and
    refuses a ``t`` more than five minutes from its clock, so a captured request cannot be replayed later.
    :func:`verify` is that check in a dozen lines to copy. Several ``v1=`` may come one day (while a secret is
    rotated); one matching is enough.

Idempotency and order
    Delivery is at least once: a request that was taken but whose answer was lost is sent again, and a replay sends
    events again on purpose. Event ids are stable (the same fact always has the same ``id``), so receivers
    de-duplicate on ``id``. Events come in commit order, so in order per subject; the ``sequence`` attribute
    (zero-padded) orders them across requests.

Retries and parking
    A failed request fails the dispatcher's batch, which is retried from the subscription's cursor; the sink skips
    the events of that batch a receiver already took. After ``n`` failures in a row the next attempt waits
    ``min(max_delay, first_delay * 2**(n-1))`` seconds (recorded as ``next_attempt_at``); after ``park_after``
    failures in a row the subscription is *parked*: the state is written, the sink leaves the dispatcher, and nothing
    is sent until someone resumes or replays it (:class:`WebhookManager`). The cursor stays where it was, so resuming
    delivers everything that happened meanwhile.

Errors::

    SinkError (gateway/outbox.py)
     ├── DeliveryFailed    the receiver did not take a request; retried
     └── DeliveryStopped   the subscription was parked or deleted; not retried until resumed
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn, Self, TypeVar

import httpx
import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from silentgw import __version__
from silentgw.gateway.events import StoredEvent, cloudevent, matches
from silentgw.gateway.outbox import Dispatcher, SinkError, in_thread
from silentgw.gateway.store import webhooks as store
from silentgw.gateway.store.database import StoreUnavailable
from silentgw.gateway.store.models import WebhookState, utcnow
from silentgw.gateway.store.webhooks import Subscription

__all__ = [
    "BATCH_MEDIA_TYPE",
    "SIGNATURE_HEADER",
    "DeliveryFailed",
    "DeliveryPolicy",
    "DeliveryStopped",
    "WebhookManager",
    "WebhookSink",
    "new_secret",
    "signature",
    "verify",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SIGNATURE_HEADER = "Webhook-Signature"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
TOLERANCE = 300.0
"""How far (seconds) a signature's timestamp may be from the receiver's clock."""
_KEEP_READING = 64 * 1024  # a 2xx answer read to its end (so the connection is reused) if no longer than this
_ERROR_SNIPPET = 200  # how much of an error answer goes into last_error


class DeliveryFailed(SinkError):
    """The receiver did not take a request: an answer other than 2xx, or none."""


class DeliveryStopped(SinkError):
    """The subscription was parked (too many failures in a row) or deleted: nothing more is sent by this sink."""


# signing -------------------------------------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret for a subscription that brought none: 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Webhook-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None, tolerance: float = TOLERANCE) -> bool:
    """Whether ``header`` signs ``body`` (the raw bytes received) with ``secret``, made within ``tolerance`` seconds of
    ``now`` (default: the clock); the receiver's side of the scheme."""
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    given = [value for key, _, value in pairs if key == "v1"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) or not given:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, mac.encode()) for mac in given)


# the sink ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How webhooks are sent: events per request, the timeout, the retry schedule and when to park."""

    batch: int = 100
    """Events per request, at most."""
    timeout: float = 10.0
    """Seconds to connect, and between bytes of the answer."""
    park_after: int = 20
    """Failures in a row that park a subscription (with the defaults, about two hours of trying)."""
    first_delay: float = 1.0
    max_delay: float = 600.0
    record_every: float = 5.0
    """Seconds between writes of ``last_attempt_at`` while deliveries succeed (a failure is written at once)."""

    def __post_init__(self) -> None:
        if self.batch < 1 or self.park_after < 1 or not 0 < self.first_delay <= self.max_delay or self.timeout <= 0:
            raise ValueError("a delivery policy needs batch >= 1, park_after >= 1, 0 < first_delay <= max_delay")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row."""
        return min(self.max_delay, self.first_delay * 2.0 ** min(failures - 1, 32))


def _transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work`` in a transaction of its own (a database that does not answer is :class:`StoreUnavailable`)."""
    with engine.begin() as conn:
        return work(conn)


class WebhookSink:
    """One subscription's deliveries: its events, signed, in requests of at most ``policy.batch``."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        client: httpx.AsyncClient,
        engine: Engine,
        source: str,
        policy: DeliveryPolicy,
        on_stop: Callable[[WebhookSink], None] | None = None,
    ) -> None:
        self.subscription = subscription
        self.name = store.sink_name(subscription.id)
        self.client = client
        self.engine = engine
        self.source = source
        self.policy = policy
        self.on_stop = on_stop
        """Called once the sink has stopped for good (parked, or its subscription deleted)."""
        self.failures = subscription.failures
        self.next_attempt = subscription.next_attempt_at
        self.stopped = subscription.state is WebhookState.PARKED
        self._taken: tuple[int, int] | None = None  # (first seq of a failed batch, last seq of it the receiver took)
        self._recorded = -math.inf  # monotonic time of the last write of a success
        self._unrecorded = False  # a success not yet written (the database did not answer)

    def wants(self, event: StoredEvent) -> bool:
        """Whether the subscription's type filter takes ``event``."""
        return matches(event.type, self.subscription.types)

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Send ``events`` in requests of at most ``policy.batch``, waiting first for the next attempt's time."""
        if self.stopped:
            raise DeliveryStopped(f"webhook {self.subscription.id} has stopped (parked or deleted)")
        if self.next_attempt is not None:
            await asyncio.sleep(max(0.0, (self.next_attempt - utcnow()).total_seconds()))
        # The dispatcher retries a failed batch from its start; the requests of it that were taken are not sent again.
        first = events[0].seq
        taken = self._taken[1] if self._taken is not None and self._taken[0] == first else 0
        pending = [e for e in events if e.seq > taken]
        for start in range(0, len(pending), self.policy.batch):
            chunk = pending[start : start + self.policy.batch]
            try:
                await self._post(chunk)
            except DeliveryFailed as exc:
                self._taken = (first, taken)
                await self._failed(exc)
            taken = chunk[-1].seq
        self._taken = None
        await self._succeeded()

    async def _post(self, events: Sequence[StoredEvent]) -> None:
        body = orjson.dumps([cloudevent(e, source=self.source) for e in events])
        # Wall-clock time, whatever clock the gateway runs on: receivers compare it with theirs.
        headers = {
            "content-type": BATCH_MEDIA_TYPE,
            SIGNATURE_HEADER: signature(self.subscription.secret, body, int(time.time())),
        }
        try:
            async with self.client.stream("POST", self.subscription.url, content=body, headers=headers) as answer:
                if answer.is_success:
                    await _read_to_end(answer)
                    return
                detail = await _snippet(answer)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DeliveryFailed(reason) from exc
        raise DeliveryFailed(f"HTTP {answer.status_code}" + (f": {detail}" if detail else ""))

    async def _failed(self, exc: DeliveryFailed) -> NoReturn:
        """Record a failed attempt and when the next one is due, or park; raise what the dispatcher should see."""
        failures = self.failures + 1
        park = failures >= self.policy.park_after
        now = utcnow()
        next_at = None if park else now + dt.timedelta(seconds=self.policy.delay(failures))
        reason = str(exc)

        def record(conn: Connection) -> bool:
            return store.failed(conn, self.subscription.id, failures=failures, error=reason, at=now, next_at=next_at,
                                parked=park)  # fmt: skip

        exists = await in_thread(lambda: _transaction(self.engine, record))
        self.failures, self.next_attempt = failures, next_at
        if exists and not park:
            raise exc
        self.stopped = True
        why = f"parked after {failures} failures in a row" if exists else "deleted"
        logger.warning("webhook %s (%s) %s; last error: %s", self.subscription.id, self.subscription.url, why, reason)
        if self.on_stop is not None:
            self.on_stop(self)
        raise DeliveryStopped(f"webhook {self.subscription.id} {why}: {reason}") from exc

    async def _succeeded(self) -> None:
        """Start the count again, and say so in the database: at once after failures, else now and then."""
        self._unrecorded |= self.failures > 0 or self.next_attempt is not None
        self.failures, self.next_attempt = 0, None
        if not self._unrecorded and time.monotonic() - self._recorded < self.policy.record_every:
            return

        def record(conn: Connection) -> bool:
            return store.succeeded(conn, self.subscription.id, at=utcnow())

        try:
            await in_thread(lambda: _transaction(self.engine, record))
        except (StoreUnavailable, SQLAlchemyError) as exc:
            # Delivered all the same: failing now would send the events again. The next success writes it.
            self._unrecorded = True
            logger.warning("webhook %s: delivered, but the database did not record it: %s", self.subscription.id, exc)
            return
        self._unrecorded = False
        self._recorded = time.monotonic()


async def _read_to_end(answer: httpx.Response) -> None:
    """Read a short answer to its end, so its connection goes back to the pool; a long one is cut (and closed)."""
    size = 0
    async for chunk in answer.aiter_raw():
        size += len(chunk)
        if size > _KEEP_READING:
            return


async def _snippet(answer: httpx.Response) -> str:
    """The start of an error answer's body, for ``last_error``."""
    head = b""
    async for chunk in answer.aiter_raw():
        head += chunk
        if len(head) >= _ERROR_SNIPPET:
            break
    return head[:_ERROR_SNIPPET].decode("utf-8", "replace").strip()


# the manager ---------------------------------------------------------------------------------------------------------


class WebhookManager:
    """Subscriptions as a service: writes the table and keeps the dispatcher's webhook sinks in step with it.

    With no dispatcher (the API without the gateway in its process) it only writes the table; a gateway loads the
    active subscriptions when it starts (:meth:`load`). Use it as an async context manager (it owns the HTTP client
    every sink shares, for keep-alive), on the event loop the dispatcher runs on.
    """

    def __init__(
        self,
        engine: Engine,
        dispatcher: Dispatcher | None = None,
        *,
        source: str = "urn:silentgw",
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.source = source
        """The CloudEvents ``source`` of every event sent (the gateway's URI)."""
        self.policy = policy or DeliveryPolicy()
        self.sinks: dict[str, WebhookSink] = {}
        """The running sinks by subscription id."""
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError("this webhook manager is already running")
        timeout = httpx.Timeout(self.policy.timeout)
        self._client = httpx.AsyncClient(timeout=timeout, headers={"user-agent": f"silentgw/{__version__}"})
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for subscription_id in list(self.sinks):
            self._stop(subscription_id)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _db(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(_transaction, self.engine, work)

    async def load(self) -> int:
        """Deliver to every active subscription (a sink each) and to no other; how many are active."""
        subscriptions = await self._db(store.active)
        wanted = {s.id for s in subscriptions}
        for gone in set(self.sinks) - wanted:
            self._stop(gone)
        for subscription in subscriptions:
            if subscription.id not in self.sinks:
                self._start(subscription)
        return len(subscriptions)

    async def create(self, *, url: str, types: Sequence[str], secret: str, description: str = "") -> Subscription:
        """Subscribe ``url`` to ``types`` (from the newest event on); delivered at once if the gateway runs here."""

        def insert(conn: Connection) -> Subscription:
            return store.create(conn, url=url, secret=secret, types=types, description=description)

        subscription = await self._db(insert)
        self._start(subscription)
        return subscription

    async def delete(self, subscription_id: str) -> bool:
        """Stop delivering to a subscription and remove it; whether there was one."""
        stopped = await self._stop_and_wait(subscription_id)
        try:
            return await self._db(lambda conn: store.delete_subscription(conn, subscription_id))
        except BaseException:
            if stopped is not None:  # still there: keep delivering
                self._start(stopped.subscription)
            raise

    async def resume(self, subscription_id: str) -> Subscription | None:
        """Make a (parked) subscription active again, from where it stopped; None if there is none."""
        subscription = await self._db(lambda conn: store.resume(conn, subscription_id))
        if subscription is not None:
            self._start(subscription)
        return subscription

    async def replay(
        self, subscription_id: str, *, after_seq: int | None = None, since: dt.datetime | None = None
    ) -> tuple[Subscription, int] | None:
        """Deliver again every event after ``after_seq`` (or from ``since``) and resume; the subscription and the
        point it goes on from, or None if there is none."""
        # The sink stops, and its pump ends (with the cursor or the failure it was writing), before the subscription
        # is resumed and its cursor set back in the transaction that works out the point; else a delivery ending
        # then would move the cursor on again, or park the subscription just resumed.
        stopped = await self._stop_and_wait(subscription_id)
        try:
            found = await self._db(lambda conn: store.replay(conn, subscription_id, after_seq=after_seq, since=since))
        except BaseException:
            if stopped is not None:
                self._start(stopped.subscription)
            raise
        if found is not None:
            self._start(found[0])  # a new pump, from the cursor set back
        return found

    async def progress(self, subscription: Subscription) -> tuple[int, int]:
        """The subscription's cursor and backlog (see :func:`silentgw.gateway.store.webhooks.progress`)."""
        return await self._db(lambda conn: store.progress(conn, subscription))

    def _start(self, subscription: Subscription) -> None:
        if self.dispatcher is None:
            return
        if self._client is None:
            raise RuntimeError("start the webhook manager (async with) before it delivers")
        sink = WebhookSink(subscription, client=self._client, engine=self.engine, source=self.source,
                           policy=self.policy, on_stop=self._stopped)  # fmt: skip
        self.sinks[subscription.id] = sink
        self.dispatcher.add(sink)

    def _stop(self, subscription_id: str) -> WebhookSink | None:
        sink = self.sinks.pop(subscription_id, None)
        if sink is not None and self.dispatcher is not None:
            self.dispatcher.remove(sink.name)
        return sink

    async def _stop_and_wait(self, subscription_id: str) -> WebhookSink | None:
        sink = self.sinks.pop(subscription_id, None)
        if sink is not None and self.dispatcher is not None:
            await self.dispatcher.stop(sink.name)
        return sink

    def _stopped(self, sink: WebhookSink) -> None:
        # Only if it is still the one running: a resume may have replaced it meanwhile.
        if self.sinks.get(sink.subscription.id) is sink:
            self._stop(sink.subscription.id)
