"""The stock ledger's decisions: what presence's transitions mean for items and stock, as pure functions of values.

An item is counted at exactly one location while it is ``received`` or ``in_stock`` (``ItemView.location``), and
nowhere once ``sold``, ``shipped`` or ``missing``. Every change of where an item is counted is one :class:`Movement`
with a deterministic idempotency key derived from what caused it, so deciding the same transitions from the same
items gives the same keys, and the store can insert each movement at most once.

The lifecycle, by transition:

- *received*: the first arrival of an item in a receiving zone, or a pass in through a dock door; also an item that
  was sold or shipped coming back through receiving (a return).
- *in stock*: an arrival on a shelf or in the backroom. Arriving elsewhere keeps the state (received stays received).
- *moved*: an arrival or move into a zone of another location; within one location only the zone changes.
- *sold*: :func:`sold`, called by whoever closes the sale.
- *shipped*: a pass out through a dock door.
- *missing*: a departure from the zone the item was in, a pass out through a shop exit with no sale first, or a
  cycle count (:func:`missing`).
- *found again*: any arrival of a missing item.

Items that have left (sold, shipped) re-enter stock only through receiving: a customer walking past a shelf with a
bought item must not put it back on the shelf. Transitions no later than the item's ``last_seen`` as stored are
stale (a replayed or overlapping batch) and are ignored, so a replay changes no item either.

Unknown EPCs: an SGTIN whose GTIN is in the catalog becomes an item on first arrival when ``commission`` is on;
anything else is reported as an :class:`UnknownSighting` with its reason, when and where it was seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from silentgw.gateway.identity import Epc, EpcError, UnsupportedEpc, decode
from silentgw.gateway.identity.prefixes import CompanyPrefixes
from silentgw.gateway.transitions import Arrived, Departed, Moved, Passed, Transition

__all__ = [
    "COUNTED",
    "Decision",
    "ItemChange",
    "ItemView",
    "Movement",
    "Reason",
    "State",
    "UnknownReason",
    "UnknownSighting",
    "Unrecognised",
    "ZoneInfo",
    "decide",
    "idempotency_key",
    "identify",
    "missing",
    "sold",
]

State = Literal["received", "in_stock", "sold", "shipped", "missing"]
Reason = Literal["received", "commissioned", "moved", "sold", "shipped", "missing", "found"]
UnknownReason = Literal["undecodable", "unsupported_scheme", "not_sgtin", "unknown_gtin", "not_commissioned"]

COUNTED: frozenset[str] = frozenset({"received", "in_stock"})
"""The states in which an item is counted at its location."""
_SHELVING = frozenset({"shelf", "backroom"})  # arriving here puts an item in stock
_RECEIVING = "receiving"
_DOCK = "dock_door"
_EXIT = "exit"
_KEY_LIMIT = 200  # stock_movements.idempotency_key is VARCHAR(200)


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """A zone as the ledger sees it: its kind and the location its stock counts in."""

    id: str
    kind: str
    location: str


@dataclass(frozen=True, slots=True)
class ItemView:
    """The ledger's view of one item: what it is, its state, where it was seen and where it is counted."""

    key: str
    product: int | None
    state: State
    zone: str | None
    location: str | None
    last_seen: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """An EPC that names no item we could stock, and why."""

    reason: UnknownReason
    key: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Movement:
    """One change of where an item is counted (one unit of its product), with its idempotency key."""

    key: str
    item: str
    product: int
    from_location: str | None
    to_location: str | None
    reason: Reason
    time: dt.datetime
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class ItemChange:
    """An item's new view, with the tag data a new item is stored with."""

    view: ItemView
    epc: str | None
    scheme: str | None
    serial: str | None
    first_seen: dt.datetime
    new: bool


@dataclass(frozen=True, slots=True)
class UnknownSighting:
    """An unknown EPC seen in a batch: why it is unknown, first and last seen, the last zone, how many times."""

    epc: str
    key: str | None
    reason: UnknownReason
    first_seen: dt.datetime
    last_seen: dt.datetime
    zone: str | None
    times_seen: int


@dataclass(frozen=True, slots=True)
class Decision:
    """What a batch means: the movements to record, the items to write, the unknown EPCs to list."""

    movements: tuple[Movement, ...] = ()
    items: tuple[ItemChange, ...] = ()
    unknown: tuple[UnknownSighting, ...] = ()


def idempotency_key(reason: str, item: str, source: str | None, target: str | None, time: dt.datetime) -> str:
    """The key of a movement caused by a transition at ``time``: the same cause always gives the same key."""
    return _fit(reason, f"{item}:{source or '-'}:{target or '-'}:{time.astimezone(dt.UTC).isoformat()}")


def _fit(reason: str, cause: str) -> str:
    key = f"{reason}:{cause}"
    if len(key) <= _KEY_LIMIT:
        return key
    # Long keys (SGTIN-198 serials, long location slugs) are hashed so they fit the column; the reason stays readable.
    return f"{reason}:sha256:{hashlib.sha256(cause.encode()).hexdigest()}"


def identify(epcs: Iterable[str], *, prefixes: CompanyPrefixes | None = None) -> dict[str, Epc | Unrecognised]:
    """Decode each EPC hex once: an `Epc`, or why it cannot name an item (non-SGTINs are items, not stock)."""
    out: dict[str, Epc | Unrecognised] = {}
    for hex_ in epcs:
        if hex_ in out:
            continue
        try:
            result = decode(hex_, prefixes=prefixes)
        except EpcError as exc:
            out[hex_] = Unrecognised("undecodable", detail=exc.reason)
            continue
        if isinstance(result, UnsupportedEpc):
            out[hex_] = Unrecognised("unsupported_scheme", detail=result.reason)
        else:
            out[hex_] = result
    return out


def decide(
    transitions: Iterable[Transition],
    *,
    identities: Mapping[str, Epc | Unrecognised],
    items: Mapping[str, ItemView],
    zones: Mapping[str, ZoneInfo],
    catalog: Mapping[str, int],
    commission: bool = True,
) -> Decision:
    """What ``transitions`` mean, given the stored ``items`` (by key) and the ``catalog`` (product id by GTIN)."""
    current: dict[str, ItemView] = {}
    tags: dict[str, Epc] = {}
    first: dict[str, dt.datetime] = {}
    movements: list[Movement] = []
    unknown: dict[str, UnknownSighting] = {}
    for t in transitions:
        zone_id = _zone_of(t)
        zone = zones.get(zone_id)
        identity = identities.get(t.epc) or Unrecognised("undecodable", detail="not identified")
        if isinstance(identity, Epc):
            view = current.get(identity.key) or items.get(identity.key)
            if zone is None:
                continue  # a zone no longer configured: the ledger cannot place the item
            stored = items.get(identity.key)
            if stored is not None and stored.last_seen is not None and t.time <= stored.last_seen:
                continue  # stale: this item has already been decided up to a later transition
            if view is None:
                product = catalog.get(identity.gtin) if identity.family == "sgtin" and identity.gtin else None
                if product is None or not commission:
                    reason: UnknownReason = (
                        "not_sgtin" if identity.family != "sgtin" else
                        "unknown_gtin" if product is None else "not_commissioned"
                    )  # fmt: skip
                    _sighted(unknown, t, zone_id, Unrecognised(reason, key=identity.key))
                    continue
                if not _brings_in(t, zone):
                    continue  # leaving without ever having been stock: nothing to count
                view = ItemView(identity.key, product, "missing", None, None)
                first[identity.key] = t.time
            view, moved = _step(view, t, zone, new=identity.key in first and identity.key not in current)
            movements.extend(moved)
            current[identity.key] = replace(view, last_seen=t.time)
            tags[identity.key] = identity
        else:
            _sighted(unknown, t, zone_id, identity)
    changes = tuple(
        ItemChange(
            view,
            epc=tags[key].hex,
            scheme=tags[key].scheme,
            serial=tags[key].serial,
            first_seen=first.get(key, view.last_seen or dt.datetime.min.replace(tzinfo=dt.UTC)),
            new=key in first,
        )
        for key, view in current.items()
    )
    return Decision(tuple(movements), changes, tuple(unknown.values()))


def sold(items: Iterable[ItemView], sale_id: str, *, time: dt.datetime) -> Decision:
    """The items of sale ``sale_id`` leave stock, one movement each keyed by the sale: a retried sale counts once."""
    return _leave(items, "sold", reason_id=sale_id, time=time)


def missing(items: Iterable[ItemView], count_id: str, *, time: dt.datetime) -> Decision:
    """A cycle count ``count_id`` did not find these items: they leave stock as missing until found again."""
    return _leave(items, "missing", reason_id=count_id, time=time)


def _leave(items: Iterable[ItemView], state: Literal["sold", "missing"], *, reason_id: str,
           time: dt.datetime) -> Decision:  # fmt: skip
    movements: list[Movement] = []
    changes: list[ItemChange] = []
    for view in items:
        if view.state == state or (state == "missing" and view.state not in COUNTED):
            continue  # already so, or (for a count) not stock to miss
        if view.location is not None and view.product is not None and view.state in COUNTED:
            key = _fit(state, f"{reason_id}:{view.key}")  # by the sale or count, whenever it is recorded
            movements.append(Movement(key, view.key, view.product, view.location, None, state, time))
        # last_seen stays: a sale or a count is not a sighting, and later transitions of the tag must still apply.
        new = replace(view, state=state, location=None)
        changes.append(ItemChange(new, epc=None, scheme=None, serial=None, first_seen=time, new=False))
    return Decision(tuple(movements), tuple(changes))


def _zone_of(t: Transition) -> str:
    if isinstance(t, Moved):
        return t.to_zone
    if isinstance(t, Passed):
        return t.portal
    return t.zone


def _brings_in(t: Transition, zone: ZoneInfo | None) -> bool:
    """Whether a transition can make a never-seen item stock (an arrival, or a pass in through a dock door)."""
    if isinstance(t, Arrived | Moved):
        return True
    return isinstance(t, Passed) and t.direction == "in" and zone is not None and zone.kind == _DOCK


def _step(view: ItemView, t: Transition, zone: ZoneInfo, *, new: bool) -> tuple[ItemView, list[Movement]]:
    """One transition applied to one item: its new view and the movements it makes."""
    if isinstance(t, Departed):
        if view.state in COUNTED and view.zone == zone.id:
            return _out(view, "missing", t.time, zone=view.zone)
        return view, []
    if isinstance(t, Passed):
        if t.direction == "out":
            if view.state in COUNTED:
                return _out(view, "shipped" if zone.kind == _DOCK else "missing", t.time, zone=zone.id)
            if zone.kind == _DOCK and view.state == "missing":
                return replace(view, state="shipped", zone=zone.id), []  # its stock left when it went missing
            return view, []
        if zone.kind != _DOCK:
            return view, []  # in through a shop exit: a customer carrying what is theirs, or walking past
        return _in(view, zone, t.time, receiving=True, new=new)
    return _in(view, zone, t.time, receiving=zone.kind == _RECEIVING, new=new)


def _in(view: ItemView, zone: ZoneInfo, time: dt.datetime, *, receiving: bool,
        new: bool) -> tuple[ItemView, list[Movement]]:  # fmt: skip
    """An item arriving in (or passing in to) ``zone``."""
    if view.state in ("sold", "shipped") and not receiving:
        return replace(view, zone=zone.id), []  # only receiving takes back what has left
    if view.state in COUNTED:
        state: State = "in_stock" if zone.kind in _SHELVING else view.state
        source = view.location
        reason: Reason = "moved" if source is not None else "received"
    else:
        state = "in_stock" if zone.kind in _SHELVING or not receiving else "received"
        source = None
        reason = "found" if view.state == "missing" and not new else "received" if receiving else "commissioned"
    moved = replace(view, state=state, zone=zone.id, location=zone.location if view.product is not None else None)
    if view.product is None or source == zone.location:
        return moved, []
    key = idempotency_key(reason, view.key, source, zone.location, time)
    return moved, [Movement(key, view.key, view.product, source, zone.location, reason, time)]


def _out(view: ItemView, state: Literal["shipped", "missing"], time: dt.datetime, *,
         zone: str | None) -> tuple[ItemView, list[Movement]]:  # fmt: skip
    """A counted item leaving stock."""
    gone = replace(view, state=state, zone=zone, location=None)
    if view.product is None or view.location is None:
        return gone, []
    key = idempotency_key(state, view.key, view.location, None, time)
    return gone, [Movement(key, view.key, view.product, view.location, None, state, time)]


def _sighted(unknown: dict[str, UnknownSighting], t: Transition, zone: str, what: Unrecognised) -> None:
    seen = unknown.get(t.epc)
    if seen is None:
        unknown[t.epc] = UnknownSighting(t.epc, what.key, what.reason, t.time, t.time, zone, 1)
        return
    later = t.time >= seen.last_seen
    unknown[t.epc] = replace(
        seen,
        first_seen=min(seen.first_seen, t.time),
        last_seen=t.time if later else seen.last_seen,
        zone=zone if later else seen.zone,
        times_seen=seen.times_seen + 1,
    )
