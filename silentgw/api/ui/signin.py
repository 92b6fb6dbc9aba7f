"""Signing in to the staff page: an API key pasted once, then kept in a cookie that only the page's own routes read.

A browser cannot send ``Authorization`` on a navigation, so the page takes the key from a form and keeps it in an
HttpOnly, SameSite=Strict cookie (Secure over https). ``/api/v1`` never looks at that cookie: its routes read the
key from headers alone, so no other site can make a browser spend it there. The page's own forms refuse a request
whose ``Origin`` is another site's (or that the browser marks cross-site), on top of SameSite.

A short-lived second cookie carries the one-line message a form's redirect leaves for the next page ("Approved").
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote

from fastapi import Request, Response

from silentgw.api.auth import KeyCache
from silentgw.gateway.store.models import Role

__all__ = [
    "KEY_COOKIE",
    "SHIFT",
    "clear_flash",
    "cross_site",
    "flash",
    "forget",
    "form_fields",
    "keep",
    "role_of",
    "set_flash",
    "viewer",
]

KEY_COOKIE = "silentgw_key"
FLASH_COOKIE = "silentgw_flash"
SHIFT = 12 * 3600
"""Seconds a signed-in browser stays signed in: a shift."""
FORM_LIMIT = 4096
"""Bytes a form of the page may send at most (a key and little else)."""


def viewer(request: Request) -> Role | None:
    """The role of the key in the request's cookie (None: no cookie, or a key that is unknown or revoked)."""
    key = request.cookies.get(KEY_COOKIE)
    return role_of(request, key) if key else None


def role_of(request: Request, key: str) -> Role | None:
    """The role of ``key``, checked as the API checks keys (None: unknown or revoked)."""
    keys: KeyCache = request.app.state.keys
    return keys.role(key)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def keep(response: Response, request: Request, key: str) -> None:
    """Remember ``key`` in the browser for a shift."""
    response.set_cookie(
        KEY_COOKIE, key, max_age=SHIFT, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def forget(response: Response, request: Request) -> None:
    """Sign the browser out."""
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))


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
