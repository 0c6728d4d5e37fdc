"""amqtt's table of subscriptions, iterated as a snapshot.

amqtt 0.12 awaits inside its loops over this table (each broadcast checks the topic plugin per subscriber; a
reconnecting client gets retained messages per filter). A client subscribing meanwhile raised "dictionary changed
size during iteration", and that broadcast was lost for every subscriber after the one being served. Iterating a
copy lets the loop finish with the table as it was when the message arrived; a new subscriber gets the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Subscribers = list[tuple[Any, int]]  # (amqtt session, QoS)


class SnapshotSubscriptions(dict[str, Subscribers]):
    """Topic filter -> subscribers; iteration walks a copy, so amqtt may add or drop entries while it awaits."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().__iter__()))

    def items(self) -> list[tuple[str, Subscribers]]:  # type: ignore[override]
        """A copy of (filter, subscribers) pairs, each subscriber list copied too."""
        return [(topic, list(subscribers)) for topic, subscribers in super().items()]
