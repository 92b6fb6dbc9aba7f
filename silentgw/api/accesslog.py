"""The API's access log without members in it: uvicorn's ``uvicorn.access`` lines, and the paths our own log lines
name, have the member number of a ``/api/v1/members/{number}/...`` path and a members query string (a search term,
a cursor) replaced by ``*``.

A member number ties a line to a person, and a search term is often a name or an email; the log is kept longer and
read by more people than the members table, so neither belongs there. :func:`install` adds the filter to uvicorn's
access logger (the command line does, where it makes the server); :func:`redact` is the rule, for anyone who logs a
path.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

__all__ = ["ACCESS_LOGGER", "MEMBERS", "AccessLogFilter", "install", "redact"]

ACCESS_LOGGER = "uvicorn.access"
MEMBERS = "/api/v1/members"
HIDDEN = "*"


def redact(target: str) -> str:
    """``target`` (a path, with its query string if any) with no member number or members query value in it."""
    path, mark, _ = target.partition("?")
    plain = unquote(path)  # "/api/v1/%6Dembers/M-1" reaches the same route
    if plain != MEMBERS and not plain.startswith(MEMBERS + "/"):
        return target
    parts = plain.split("/")
    at = MEMBERS.count("/") + 1  # the number's segment
    if len(parts) > at and parts[at]:
        parts[at] = HIDDEN
    return "/".join(parts) + (mark + HIDDEN if mark else "")


class AccessLogFilter(logging.Filter):
    """Rewrites the target of uvicorn's access lines (``'%s - "%s %s HTTP/%s" %d'``) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact(args[2]), *args[3:])
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to uvicorn's access logger (or ``logger``), once however often it is called."""
    target = logger if logger is not None else logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AccessLogFilter) for f in target.filters):
        target.addFilter(AccessLogFilter())
