"""The staff web page at ``/``: stock search, low stock and restock approval, an item finder, a live event feed and
device health, for a phone as much as a desk. Sign in with an API key; the page's role is the key's role."""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

from silentgw.api.ui.pages import router

__all__ = ["STATIC_PATH", "router", "static_files"]

STATIC_PATH = "/ui/static"
"""Where the page's stylesheet and script are served."""


def static_files() -> StaticFiles:
    """The page's stylesheet and script, to mount at :data:`STATIC_PATH`."""
    return StaticFiles(directory=Path(__file__).parent / "static")
