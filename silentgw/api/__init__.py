"""The HTTP API (FastAPI): a thin skin over the gateway's services."""

from __future__ import annotations

from silentgw.api.app import create_app

__all__ = ["create_app"]
