"""Tags and times the store tests share: an SGTIN-96 of a demo product, and minutes after nine on the test day."""

from __future__ import annotations

import datetime as dt

from silentgw.gateway.identity import encode_sgtin
from silentgw.simulator.demo_store import DemoProduct

__all__ = ["T0", "at", "tag"]

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def tag(product: DemoProduct, serial: int) -> str:
    """The EPC (hex) of item ``serial`` of ``product``."""
    return encode_sgtin(gtin=product.gtin, serial=str(serial), company_prefix_length=len(product.company_prefix))


def at(minutes: float) -> dt.datetime:
    """``minutes`` after :data:`T0`."""
    return T0 + dt.timedelta(minutes=minutes)
