"""Rules that act on events: restock, fulfilment, member offers, shelf displays. One outbox sink runs them all.

The :class:`Actions` sink takes the outbox's events in commit order, like any sink, from a cursor of its own
(``actions``). Each :class:`Rule` that wants an event handles it inside one database transaction and returns what
follows from it: new events (written to the outbox in that same transaction, so the state a rule changed and the
event saying so commit together) and device commands (sent once the transaction has committed). The cursor moves
only after that, so a crash makes a rule see an event again: rules are idempotent by the id of the event that
caused them (a request raised for event X has an id derived from X).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine

from silentgw.drivers.commands import Command
from silentgw.gateway.events import Event, StoredEvent
from silentgw.gateway.store import outbox

__all__ = ["Actions", "Outcome", "Rule", "SendCommand"]

logger = logging.getLogger(__name__)

SendCommand = Callable[[str, Command], Awaitable[None]]
"""How a command reaches a device: ``Gateway.send(device, command)``."""


@dataclass(slots=True)
class Outcome:
    """What a rule made of an event: events to write with its changes, commands to send after the commit."""

    events: list[Event] = field(default_factory=list)
    commands: list[tuple[str, Command]] = field(default_factory=list)

    def __iadd__(self, other: Outcome) -> Outcome:
        self.events += other.events
        self.commands += other.commands
        return self


class Rule(Protocol):
    """One kind of action."""

    def wants(self, event: StoredEvent) -> bool:
        """Whether this rule looks at ``event``."""
        ...

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """Act on ``event`` in ``conn``'s transaction (idempotently: it may see the same event again)."""
        ...


class Actions:
    """The outbox sink that runs the rules, one transaction per batch of events."""

    name = "actions"

    def __init__(
        self,
        engine: Engine,
        rules: Sequence[Rule],
        *,
        send: SendCommand | None = None,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.rules = list(rules)
        self.send = send
        self.notify = notify
        """Told when the rules wrote events (the dispatcher's ``notify``), so other sinks take them at once."""
        self.handled = 0

    def wants(self, event: StoredEvent) -> bool:
        """Events some rule looks at."""
        return any(rule.wants(event) for rule in self.rules)

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Run the rules on ``events`` and commit; then send the commands they gave."""
        outcome = await asyncio.to_thread(self._run, events)
        self.handled += len(events)
        if outcome.events and self.notify is not None:
            self.notify()
        for device, command in outcome.commands:
            if self.send is None:
                logger.info("no gateway here to send %s to %s", type(command).__name__, device)
                continue
            try:
                await self.send(device, command)
            except Exception as exc:  # a device away must not hold back the rules: the command is logged, not retried
                logger.warning("command %s to %s failed: %s", type(command).__name__, device, exc)

    def _run(self, events: Sequence[StoredEvent]) -> Outcome:
        total = Outcome()
        with self.engine.begin() as conn:
            for event in events:
                for rule in self.rules:
                    if rule.wants(event):
                        total += rule.handle(conn, event)
            outbox.append(conn, total.events)
        return total
