"""Redaction: the one way secrets are hidden wherever settings, URLs or error text are shown or logged.

A secret is a value under a name that says so (``password``, ``token``, ``api_key``, ``client_secret``, ...), the
password of a URL's userinfo (``postgresql://gw:PASSWORD@db/silentgw``, ``http://user:PASSWORD@host:8086``,
``mqtt://user:PASSWORD@broker``), or a query parameter named like one (``?password=...``, ``?token=...``). Each is
shown as :data:`MASK`; user names, hosts and ports stay, since they are what someone reading a log needs.
``config show``, the log lines that name a URL and the devices' driver options in the API all go through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "masked", "masked_text", "secret_name", "written"]

MASK = "**********"
"""What a secret is shown as: the same whatever its length, so nothing about it shows."""

_SECRET_NAME = re.compile(r"(password|passwd|pwd|secret|token|key|signature|sig|credentials?|auth)$", re.IGNORECASE)
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:)[^\s@]*@", re.IGNORECASE)
"""``scheme://user:password@``: the password (possibly empty) of a URL's userinfo, anywhere in a text."""
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?P<name>[\w.\-\[\]]+)=)(?P<value>[^&;#\s'\"]*)")
"""``?name=value`` or ``&name=value``: a query parameter, masked when its name is a secret's."""


def secret_name(name: str) -> bool:
    """Whether a setting or parameter called ``name`` holds a secret (``password``, ``api_key``, ``token``, ...)."""
    return _SECRET_NAME.search(name) is not None


def masked_text(text: str) -> str:
    """``text`` (a URL, a DSN, a message quoting either) with every URL password and secret query parameter masked."""
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: m["head"] + MASK if secret_name(m["name"]) else m[0], text)


def masked(value: Any, name: str = "") -> Any:
    """Plain data (dicts, lists, strings) with every secret masked: values under a secret's name, and the secrets in
    every string (see :func:`masked_text`); ``None`` under a secret's name stays ``None`` (nothing is set)."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, name) for v in value]
    if value is not None and secret_name(name):
        return MASK
    if isinstance(value, str):
        return masked_text(value)
    return value


def written(given: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """What to keep of options written over ``stored`` (both plain data): ``given`` masked, plus the secrets of
    ``stored`` that ``given`` leaves out, so a write need not repeat a password; a secret given as ``None`` is
    removed. Secrets are write-only: what is kept of one is that it is set."""
    kept = {k: v for k, v in stored.items() if secret_name(k) and k not in given}
    new: dict[str, Any] = masked(dict(given))
    return {k: v for k, v in (new | kept).items() if v is not None or not secret_name(k)}
