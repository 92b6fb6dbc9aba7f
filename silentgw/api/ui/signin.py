"""Signing in to the staff page: an API key pasted once starts a session on the server, and the browser keeps only
the session's id, in a cookie that only the page's own routes read.

A browser cannot send ``Authorization`` on a navigation, so the page takes the key from a form, checks it as the
API does (bad keys count against the client's address: ``api/throttle.py``), and starts a session
(``store/pagesessions.py``): 256 random bits, of which the server keeps a digest, with the key's id, an absolute
lifetime and an idle timeout (the ``[access]`` settings; 12 hours and 30 minutes by default). The cookie holds that
id, HttpOnly, SameSite=Strict, Path=/, Secure over https; never the key, nor anything made from it. Signing out
ends the session on the server; revoking the key ends its sessions at once. ``/api/v1`` never looks at that cookie:
its routes read the key from headers alone, so no other site can make a browser spend it there. The page's own
forms refuse a request whose ``Origin`` is another site's (or that the browser marks cross-site), on top of
SameSite.

A short-lived second cookie carries the one-line message a form's redirect leaves for the next page ("Approved").
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, quote, unquote

from fastapi import Request, Response
from sqlalchemy import Engine

from silentgw.gateway.config import AccessSettings
from silentgw.gateway.store import keys, pagesessions
from silentgw.gateway.store.models import Role

__all__ = [
    "SESSION_COOKIE",
    "clear_flash",
    "cross_site",
    "flash",
    "form_fields",
    "set_flash",
    "sign_in",
    "sign_out",
    "signed_out",
    "viewer",
]

SESSION_COOKIE = "silentgw_session"
LEGACY_COOKIE = "silentgw_key"
"""The cookie that held the raw key before sessions: deleted wherever it is still found."""
FLASH_COOKIE = "silentgw_flash"
FORM_LIMIT = 4096
"""Bytes a form of the page may send at most (a key and little else)."""


def _access(request: Request) -> AccessSettings:
    access: AccessSettings = request.app.state.settings.access
    return access


def viewer(request: Request, *, touch: bool = True) -> Role | None:
    """The role of the request's session (None: no cookie, or a session that has ended); blocking. ``touch``: this
    is a person's use of the page (the live feed's connection is not)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    engine: Engine = request.app.state.engine
    with engine.begin() as conn:
        return pagesessions.check(conn, session_id, idle=_access(request).session_idle, now=dt.datetime.now(dt.UTC),
                                  touch=touch)  # fmt: skip


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def sign_in(response: Response, request: Request, key: str) -> None:
    """Start a session for ``key`` (already verified) and keep its id in the browser; a session the browser held is
    ended first."""
    access = _access(request)
    engine: Engine = request.app.state.engine
    with engine.begin() as conn:
        if previous := request.cookies.get(SESSION_COOKIE):
            pagesessions.end(conn, previous)
        session_id = pagesessions.start(conn, key_id=keys.id_of(key), lifetime=access.session_lifetime,
                                        idle=access.session_idle, now=dt.datetime.now(dt.UTC))  # fmt: skip
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(access.session_lifetime), path="/", httponly=True,
                        samesite="strict", secure=_secure(request))  # fmt: skip
    _drop(response, request, LEGACY_COOKIE)


def sign_out(response: Response, request: Request) -> None:
    """End the request's session on the server and in the browser."""
    if session_id := request.cookies.get(SESSION_COOKIE):
        engine: Engine = request.app.state.engine
        with engine.begin() as conn:
            pagesessions.end(conn, session_id)
    signed_out(response, request)


def signed_out(response: Response, request: Request) -> None:
    """Drop the browser's session cookie (and a key kept the old way)."""
    _drop(response, request, SESSION_COOKIE)
    _drop(response, request, LEGACY_COOKIE)


def _drop(response: Response, request: Request, name: str) -> None:
    if name in request.cookies:
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=_secure(request))


def set_flash(response: Response, request: Request, message: str, *, ok: bool = True) -> None:
    """Leave ``message`` for the next page the browser loads."""
    value = ("ok:" if ok else "error:") + quote(message[:300])
    response.set_cookie(
        FLASH_COOKIE, value, max_age=60, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def flash(request: Request) -> tuple[str, str] | None:
    """The message left for this page, as (``ok`` or ``error``, text); None when there is none."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return None
    kind, _, text = value.partition(":")
    return ("ok" if kind == "ok" else "error"), unquote(text)


def clear_flash(response: Response, request: Request) -> None:
    """Drop the message once a page has shown it."""
    response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


def cross_site(request: Request) -> bool:
    """Whether the request comes from another site's page (``Origin`` not ours, or ``Sec-Fetch-Site: cross-site``)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}"


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a small URL-encoded form (empty for anything else, or for a body over :data:`FORM_LIMIT`)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return {}
    try:
        return dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=8))
    except ValueError:  # more fields than any of the page's forms has
        return {}
