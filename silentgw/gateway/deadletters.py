"""Dead letters as a service: list what the pipeline and the sinks set aside, replay it once its cause is fixed, or
let it go.

A dead letter of the pipeline's (a run of transitions, a sale the database refused) is written again through the
pipeline, between its micro-batches; one of a sink's (an event the sink refused on its own) is delivered again to
that sink. Either way it is marked ``replayed`` only once it went through; a replay that fails again keeps the
letter open with the newest reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import Engine

from silentgw.gateway.outbox import Dispatcher, NotReplayable
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store import deadletters
from silentgw.gateway.store.database import StoreUnavailable
from silentgw.gateway.store.deadletters import Letter
from silentgw.gateway.store.models import DeadLetterState

__all__ = ["AlreadyResolved", "DeadLetterError", "DeadLetters", "NotReplayable", "StillFailing", "UnknownDeadLetter"]


class DeadLetterError(Exception):
    """Root of the dead letters' errors.

    DeadLetterError
     ├── UnknownDeadLetter   no dead letter has that id
     ├── AlreadyResolved     it was replayed or discarded before
     └── StillFailing        replayed, and refused again (the reason is the newest)
    NotReplayable (gateway.outbox) its sink does not run here, or its event is gone
    """


class UnknownDeadLetter(DeadLetterError):
    """No dead letter has that id."""


class AlreadyResolved(DeadLetterError):
    """The dead letter was replayed or discarded before."""


class StillFailing(DeadLetterError):
    """The replay was refused again; the dead letter stays open with the newest reason."""


@dataclass(slots=True)
class DeadLetters:
    """What was set aside, and the way back in."""

    engine: Engine
    pipeline: Pipeline | None = None
    dispatcher: Dispatcher | None = None

    def page(self, *, state: str | None = None, source: str | None = None, after: int = 0,
             limit: int = 50) -> list[Letter]:  # fmt: skip
        """Dead letters after id ``after``, oldest first."""
        with self.engine.connect() as conn:
            return deadletters.page(conn, state=state, source=source, after=after, limit=limit)

    def get(self, letter_id: int) -> Letter:
        """Dead letter ``letter_id`` (:class:`UnknownDeadLetter` if none)."""
        with self.engine.connect() as conn:
            letter = deadletters.get(conn, letter_id)
        if letter is None:
            raise UnknownDeadLetter(f"dead letter {letter_id} not found")
        return letter

    def _open(self, letter_id: int) -> Letter:
        letter = self.get(letter_id)
        if letter.state != DeadLetterState.OPEN:
            raise AlreadyResolved(f"dead letter {letter_id} is {letter.state} already")
        return letter

    async def replay(self, letter_id: int) -> Letter:
        """Try dead letter ``letter_id`` again; it as it is now (replayed), or :class:`StillFailing`."""
        letter = await asyncio.to_thread(self._open, letter_id)
        try:
            if letter.source == "pipeline":
                if self.pipeline is None:
                    raise NotReplayable(f"no read pipeline runs here to replay dead letter {letter_id}")
                await self.pipeline.replay_letter(letter)
            else:
                if self.dispatcher is None:
                    raise NotReplayable(f"no outbox runs here to replay dead letter {letter_id}")
                await self.dispatcher.replay(letter)
        except (NotReplayable, StoreUnavailable):
            raise
        except Exception as exc:
            raise StillFailing(f"dead letter {letter_id} was refused again: {type(exc).__name__}: {exc}") from exc
        return await asyncio.to_thread(self.get, letter_id)

    def discard(self, letter_id: int) -> Letter:
        """Let dead letter ``letter_id`` go (looked at, not to be replayed)."""
        self._open(letter_id)
        with self.engine.begin() as conn:
            deadletters.resolve(conn, letter_id, DeadLetterState.DISCARDED)
        return self.get(letter_id)
