"""Intake: a request's body is taken only from a caller with a valid key, and only up to a bound.

FastAPI reads a route's body before it solves the route's dependencies, so the key check of :func:`authorize
<silentgw.api.auth.authorize>` comes after the whole body has arrived: without this, a caller with no key could make
the API read (and hold) hundreds of megabytes. :class:`Intake` stands in front of the routes, as a plain ASGI
middleware that never buffers:

- a request bringing a body to a path that needs a key (the API, EPCIS) without a valid one is answered 401 before
  a byte of its body is read (its role is checked later, by the route, as for any request), or 429 when its
  address sent too many bad keys lately (``api/throttle.py``);
- a body announced (``Content-Length``) as larger than ``limit`` bytes is answered 413 at once;
- a body that is not announced (chunked) is counted as it streams and cut off as soon as it passes ``limit``: 413.

These answers close the connection, so the client stops sending what nobody reads; but first, for up to
:data:`LINGER` seconds and ``DRAIN * limit`` bytes, what the client is still sending is read and dropped (a lingering
close, as web servers do): closing a socket with unread data resets the connection, and a client still writing its
body would see the reset and never the answer. A client that asked ``Expect: 100-continue`` sent no body: nothing to
drop. Requests without a body pass untouched.

One bound serves every route: none takes more than a few kilobytes (the largest, an order of 200 lines, is about
10 KB; there is no EPCIS capture interface), so none needs a larger one.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from silentgw.api import auth, problems
from silentgw.api.throttle import Throttled
from silentgw.gateway.store.database import StoreUnavailable

__all__ = ["Intake"]

LINGER = 1.0
"""Seconds a refused request's body is read and dropped, at most, before its connection is closed."""
DRAIN = 16
"""Bytes read and dropped after a refusal, at most, in multiples of the limit."""


class _TooLarge(Exception):
    """The body passed the bound while the route was reading it."""


class Intake:
    """ASGI middleware: the key before the body (on paths starting with one of ``guarded``), and at most ``limit``
    bytes of body."""

    def __init__(self, app: ASGIApp, *, limit: int, guarded: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.guarded = guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if (length is None or length == "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        request = Request(scope)
        if str(scope["path"]).startswith(self.guarded):
            try:
                refused = await auth.refusal(request)
            except StoreUnavailable as exc:
                await self.refuse(problems.unavailable(request, exc), request, receive, send)
                return
            except Throttled as exc:
                await self.refuse(problems.throttled(request, exc), request, receive, send)
                return
            if refused is not None:
                await self.refuse(problems.unauthorized(request, refused), request, receive, send)
                return
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self.refuse(problems.too_large(request, self.limit), request, receive, send)
            return
        await _Metered(self, request)(receive, send)

    async def refuse(self, response: Response, request: Request, receive: Receive, send: Send) -> None:
        """Send ``response``, then drop what the client still sends (see the module's docstring) before ending it."""

        async def held(message: Message) -> None:  # the answer's last part waits until the body is dropped
            await send({**message, "more_body": True} if message["type"] == "http.response.body" else message)

        await response(request.scope, receive, held)
        if request.headers.get("expect", "").lower() != "100-continue":
            dropped = 0
            with anyio.move_on_after(LINGER):
                while dropped <= DRAIN * self.limit:
                    message = await receive()
                    dropped += len(message.get("body", b""))
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Metered:
    """One request whose body is counted as the app reads it; past the limit the app's answer (to a body cut short)
    is dropped and a 413 goes out instead, unless the app had started answering already."""

    def __init__(self, intake: Intake, request: Request) -> None:
        self.intake = intake
        self.request = request
        self.taken = 0
        self.exceeded = False
        self.started = False

    async def __call__(self, receive: Receive, send: Send) -> None:
        limit = self.intake.limit

        async def metered() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.taken += len(message.get("body", b""))
                if self.taken > limit:
                    self.exceeded = True
                    raise _TooLarge(f"more than {limit} bytes")
            return message

        async def answer(message: Message) -> None:
            if self.exceeded and not self.started:
                return  # the app's answer to a body cut short: the 413 goes out in its place
            self.started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.intake.app(self.request.scope, metered, answer)
        except Exception:
            if not self.exceeded or self.started:
                raise
        if self.exceeded and not self.started:
            await self.intake.refuse(problems.too_large(self.request, limit), self.request, receive, send)
