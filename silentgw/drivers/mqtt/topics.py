"""The topics an MQTT device uses on the broker, as its driver's settings name them, and which of them a message
may come in on.

``silentgw broker config`` writes the broker's ACL from :class:`DeviceTopics`: the device may publish only on the
topics its driver subscribes to, and read only the topics its driver sends commands on; the gateway's account reads
the first and writes the second. The driver, in turn, takes a message only if it came in on one of its own
subscriptions (:class:`TopicFilter`): a persistent session can outlive a change of topics at the broker, and an
old subscription must not feed a reader's stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol, runtime_checkable

from paho.mqtt.client import topic_matches_sub

__all__ = ["DeviceTopics", "OnBroker", "TopicFilter"]


class DeviceTopics(NamedTuple):
    """What a device publishes (its driver subscribes to them) and what it reads (its driver's commands)."""

    publishes: tuple[str, ...]
    reads: tuple[str, ...] = ()


@runtime_checkable
class OnBroker(Protocol):
    """An MQTT driver that says which topics its device uses."""

    def device_topics(self) -> DeviceTopics:
        """The device's topics, from the driver's settings."""
        ...


class TopicFilter:
    """Whether a topic matches one of a driver's subscriptions (exact topics by a set look-up, wildcards by paho)."""

    def __init__(self, subscriptions: Iterable[str]) -> None:
        subscriptions = list(subscriptions)
        self._exact = frozenset(s for s in subscriptions if "+" not in s and "#" not in s)
        self._wild = tuple(s for s in subscriptions if s not in self._exact)

    def __call__(self, topic: str) -> bool:
        """Whether ``topic`` is one of the subscriptions'."""
        return topic in self._exact or any(topic_matches_sub(sub, topic) for sub in self._wild)
