"""Access: every API route needs a key, and the key's role must be one the route allows.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Without one, or with one that is unknown or
revoked, the answer is 401 (with ``WWW-Authenticate``); with a key whose role the route does not allow, 403. Both
are problem+json.

Members' personal data (name, email, phone, birthday, card ids) is a permission of its own, ``personal_data``, held by
the roles in :data:`PERSONAL_DATA` (admins and ``privacy``); :func:`personal_data` tells a route whether the request's
key holds it, and the member routes leave those fields out for every other role.

Routes declare their roles with :func:`allow`; a route that declares none is readable by every role when it only
reads (GET) and is for admins otherwise, so a new write route is closed until someone opens it on purpose. Admins
may do everything. The roles each route allows are in the OpenAPI document (``x-roles``), next to the security
schemes a client generator needs.

A key's check is one indexed query; a verified key is remembered for :data:`REMEMBER` seconds, so a busy client
does not cost a query per request. Revoking a key (through this API, the command line or another process) moves
the ``keys`` revision on (``store/revisions.py``), which the cache reads at most every :data:`LOOK_EVERY` second,
when a request comes: it then forgets every key, so a revoked key stops working within about a second. A
remembered key is checked on the event loop (a digest and a dict lookup); only a query (a key, or the revision once
a second) goes to a worker thread, so most requests make no thread hop for it.

Bad keys count against the client's address, and an address that sent too many is answered 429 without its key
being looked up (``api/throttle.py`` states the policy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from silentgw.api.problems import CHALLENGE
from silentgw.api.throttle import Throttle, Throttled
from silentgw.gateway.store import keys, revisions
from silentgw.gateway.store.models import Role

__all__ = [
    "EVERYONE",
    "LOOK_EVERY",
    "PERSONAL_DATA",
    "REMEMBER",
    "KeyCache",
    "allow",
    "authorize",
    "personal_data",
    "refusal",
    "roles_of",
    "verified",
]

F = TypeVar("F", bound=Callable[..., Any])

EVERYONE = frozenset(Role)
PERSONAL_DATA = frozenset({Role.ADMIN, Role.PRIVACY})
"""The roles with the ``personal_data`` permission: they read members' names, emails, phones, birthdays and cards."""
REMEMBER = 10.0
"""Seconds a verified key is remembered."""
LOOK_EVERY = 1.0
"""Seconds between looks at whether a key was revoked (the ``keys`` revision), at most."""

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sgw_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key in a header of its own")


def allow(*roles: Role) -> Callable[[F], F]:
    """Declare the roles (besides admin) a route allows."""

    def mark(endpoint: F) -> F:
        endpoint.roles = frozenset(roles) | {Role.ADMIN}  # type: ignore[attr-defined]
        return endpoint

    return mark


def roles_of(route: APIRoute) -> frozenset[Role]:
    """The roles ``route`` allows: declared, or every role for reading and admins for changing."""
    declared: frozenset[Role] | None = getattr(route.endpoint, "roles", None)
    if declared is not None:
        return declared
    return EVERYONE if (route.methods or set()) <= {"GET", "HEAD"} else frozenset({Role.ADMIN})


class KeyCache:
    """Keys recently verified, by digest: their role and until when it is trusted without a query, as long as no key
    was revoked since (the ``keys`` revision, looked at every :data:`LOOK_EVERY` second)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: dict[str, tuple[Role, float, int | None]] = {}
        self._revision: int | None = None
        self._look_at = -math.inf

    def remembered(self, key: str) -> Role | None:
        """The role of ``key`` if it was verified less than :data:`REMEMBER` seconds ago and no look at the revision
        is due (None: ask :meth:`role`, in a worker thread)."""
        now = time.monotonic()
        return self._trusted(keys.digest(key), now) if now < self._look_at else None

    def holds(self, key: str) -> bool:
        """Whether ``key`` was verified recently (though a look at the revision may be due before it is trusted)."""
        return self._trusted(keys.digest(key), time.monotonic()) is not None

    def role(self, key: str) -> Role | None:
        """The role of ``key`` (None: no such key, or revoked); a query unless it is remembered."""
        digest = keys.digest(key)
        now = time.monotonic()
        if now >= self._look_at:
            self._look(now)
        revision = self._revision
        known = self._trusted(digest, now)
        if known is not None:
            return known
        with self.engine.connect() as conn:  # a database away raises StoreUnavailable (store.database)
            role = keys.check(conn, key)
        if role is None:
            self._known.pop(digest, None)
            return None
        if len(self._known) > 10_000:
            self._known.clear()  # a flood of distinct keys must not grow this without bound
        # tagged with the revision read before the query: a revocation seen meanwhile makes it untrusted
        self._known[digest] = (role, now + REMEMBER, revision)
        return role

    def forget(self) -> None:
        """Forget every key (after a revocation)."""
        self._known.clear()

    def _trusted(self, digest: str, now: float) -> Role | None:
        known = self._known.get(digest)
        if known is None or known[1] <= now or known[2] != self._revision:
            return None
        return known[0]

    def _look(self, now: float) -> None:
        revision = revisions.current(self.engine, revisions.KEYS)  # one primary-key read
        if revision != self._revision:
            self._known.clear()
            self._revision = revision
        self._look_at = now + LOOK_EVERY


NO_KEY = "An API key is needed (Authorization: Bearer <key>, or X-API-Key)"
BAD_KEY = "This API key is not valid (unknown or revoked)"


def _admitted(request: Request, key: str) -> tuple[Throttle, str]:
    """The throttle and the client's address, once that address may have ``key`` looked up (:class:`Throttled` if
    it is held back and ``key`` is not one verified recently)."""
    throttle: Throttle = request.app.state.throttle
    address = throttle.address(request)
    wait = throttle.wait(address)
    if wait is not None and not request.app.state.keys.holds(key):
        raise Throttled(wait)
    return throttle, address


async def _role(request: Request, key: str) -> Role | None:
    cache: KeyCache = request.app.state.keys
    # Called on the event loop (an `async def` dependency, a middleware); only a key not remembered costs a thread.
    role = cache.remembered(key)
    if role is not None:
        return role
    throttle, address = _admitted(request, key)
    role = await run_in_threadpool(cache.role, key)
    if role is None:
        throttle.fail(address)
    return role


def verified(request: Request, key: str) -> Role | None:
    """The role of ``key`` sent by ``request``'s client, checked and counted as the API does (None: unknown or
    revoked; :class:`Throttled` when the client is held back); blocking: for a worker thread (the page's sign-in)."""
    throttle, address = _admitted(request, key)
    cache: KeyCache = request.app.state.keys
    role = cache.role(key)
    if role is None:
        throttle.fail(address)
    return role


async def refusal(request: Request) -> str | None:
    """Why the request's key is refused (none; unknown or revoked), or None for a valid key, whatever its role: the
    check made before a request's body is read (``api/intake.py``). :class:`Throttled` when the client is held
    back."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key = credentials.strip() if scheme.lower() == "bearer" else ""
    key = key or request.headers.get("x-api-key", "")
    if not key:
        return NO_KEY
    return BAD_KEY if await _role(request, key) is None else None


async def authorize(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Role:
    """The role of the request's key; 401 without a valid key, 403 when the route does not allow that role
    (:class:`Throttled`, a 429, when the client sent too many bad keys)."""
    key = bearer.credentials if bearer is not None else header
    if not key:
        raise HTTPException(401, NO_KEY, CHALLENGE)
    role = await _role(request, key)
    if role is None:
        raise HTTPException(401, BAD_KEY, CHALLENGE)
    route = request.scope.get("route")
    allowed = roles_of(route) if isinstance(route, APIRoute) else frozenset({Role.ADMIN})
    if role not in allowed:
        needed = ", ".join(sorted(allowed))
        raise HTTPException(403, f"A {role} key may not do this (it needs one of: {needed})")
    request.state.role = role
    return role


def personal_data(role: Annotated[Role, Depends(authorize)]) -> bool:
    """Whether the request's key holds the ``personal_data`` permission (a dependency; ``authorize`` runs once)."""
    return role in PERSONAL_DATA


def document(routes: Iterable[Any]) -> None:
    """Put each route's roles in its OpenAPI operation (``x-roles``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": sorted(roles_of(route))}
