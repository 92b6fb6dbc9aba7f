"""What the pipeline decided and has not written yet, cut into the steps it is written in, and those steps as JSON.

A micro-batch's decisions (:class:`Unwritten`) are written as a sequence of steps in time order: runs of transitions
(with the batch's other events) and sales, a sale before the exit pass that closed it (:func:`steps`). Each step is
idempotent and is the unit of failure: a step the database refuses for what it holds is set aside as a dead letter
(:func:`encode`, so an admin can replay it once the cause is fixed, :func:`decode`), and the steps after it go on.

Pure: no I/O, no settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from silentgw.gateway.checkout import Sale
from silentgw.gateway.events import Event
from silentgw.gateway.transitions import Arrived, Departed, Moved, Passed, Transition

__all__ = ["Apply", "Sell", "Step", "Unwritten", "decode", "encode", "steps"]


@dataclass(frozen=True, slots=True)
class Unwritten:
    """What one micro-batch decided that the database has not taken yet."""

    transitions: tuple[Transition, ...]
    sales: tuple[Sale, ...]
    events: tuple[Event, ...] = ()
    """The batch's events that no ledger movement or sale carries: unpaid-exit alarms, devices down and up."""


@dataclass(frozen=True, slots=True)
class Apply:
    """A run of transitions for the ledger, with events written in the same transaction."""

    transitions: tuple[Transition, ...]
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Sell:
    """A sale: its items sold in the ledger, then recorded on the member's record."""

    sale: Sale


Step = Apply | Sell


def steps(unwritten: Unwritten) -> list[Step]:
    """The steps that write ``unwritten``, in time order: the transitions stamped before a sale go before it.

    The ledger takes an item passing out of a shop exit while still counted as missing, so the items of a sale must
    be sold before the pass that closed the sale is applied (the pipeline leaves out the passes checkout says were
    carried by a session's customer; this order keeps any others of a sale's items from counting as losses).
    """
    ordered = sorted(unwritten.transitions, key=lambda t: t.time)
    out: list[Step] = []
    start = 0
    for sale in sorted(unwritten.sales, key=lambda s: s.time):
        end = start
        while end < len(ordered) and ordered[end].time < sale.time:
            end += 1
        if end > start:
            out.append(Apply(tuple(ordered[start:end])))
        start = end
        out.append(Sell(sale))
    if start < len(ordered) or unwritten.events:
        out.append(Apply(tuple(ordered[start:]), unwritten.events))
    return out


_KINDS: dict[str, type[Transition]] = {"arrived": Arrived, "moved": Moved, "departed": Departed, "passed": Passed}


def _time(value: dt.datetime) -> str:
    return value.isoformat()


def _transition(t: Transition) -> dict[str, Any]:
    fields = {name: getattr(t, name) for name in type(t).__slots__}
    return {"kind": type(t).__name__.lower(), **fields, "time": _time(t.time)}


def _event(e: Event) -> dict[str, Any]:
    return {"id": e.id, "type": e.type, "subject": e.subject, "time": _time(e.time), "data": dict(e.data)}


def encode(step: Step) -> tuple[str, dict[str, Any]]:
    """The step as a kind (``transitions`` or ``sale``) and a JSON object."""
    if isinstance(step, Sell):
        s = step.sale
        sale = {"id": s.id, "member": s.member, "items": list(s.items), "time": _time(s.time),
                "checkout": s.checkout, "opened": _time(s.opened)}  # fmt: skip
        return "sale", {"sale": sale}
    return "transitions", {"transitions": [_transition(t) for t in step.transitions],
                           "events": [_event(e) for e in step.events]}  # fmt: skip


def decode(kind: str, payload: Mapping[str, Any]) -> Step:
    """The step :func:`encode` wrote (``ValueError`` if ``payload`` is not one)."""
    try:
        if kind == "sale":
            s = payload["sale"]
            return Sell(Sale(str(s["id"]), s["member"], tuple(s["items"]), dt.datetime.fromisoformat(s["time"]),
                             str(s["checkout"]), dt.datetime.fromisoformat(s["opened"])))  # fmt: skip
        if kind == "transitions":
            transitions = []
            for t in payload["transitions"]:
                fields = {k: v for k, v in t.items() if k != "kind"}
                fields["time"] = dt.datetime.fromisoformat(fields["time"])
                transitions.append(_KINDS[t["kind"]](**fields))
            events = [Event(e["id"], e["type"], e["subject"], dt.datetime.fromisoformat(e["time"]), e["data"])
                      for e in payload["events"]]  # fmt: skip
            return Apply(tuple(transitions), tuple(events))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a {kind} step: {exc!r}") from exc
    raise ValueError(f"unknown step kind {kind!r}")
