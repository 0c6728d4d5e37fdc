"""The embedded broker's subscription table survives clients subscribing while amqtt broadcasts."""

from __future__ import annotations

from hub.broker.credentials import HUB_USERNAME
from hub.broker.embedded import EmbeddedBroker
from hub.broker.subscriptions import SnapshotSubscriptions
from tests.hub.broker.test_embedded_broker import HUB_PASSWORD, MemoryStore


def test_subscribing_while_a_broadcast_walks_the_table() -> None:
    table = SnapshotSubscriptions({"restock/v1/+/event": [("hub", 1)]})
    seen = []
    for topic, subscribers in table.items():  # what amqtt's broadcast does, awaiting between subscribers
        table["restock/v1/btn-new/cmd"] = [("btn-new", 1)]
        subscribers.append(("late", 0))
        seen.append(topic)
    for topic in table:  # what a reconnecting client's retained-message pass does
        table.pop("restock/v1/btn-new/cmd", None)
        seen.append(topic)
    assert seen == ["restock/v1/+/event", "restock/v1/+/event", "restock/v1/btn-new/cmd"]
    assert table == {"restock/v1/+/event": [("hub", 1)]}


async def test_the_embedded_broker_uses_the_snapshot_table() -> None:
    async with EmbeddedBroker(MemoryStore(), hub_password=HUB_PASSWORD, hub_username=HUB_USERNAME, port=0) as broker:
        gated = broker._broker  # noqa: SLF001 - amqtt keeps the table private
        assert gated is not None and isinstance(gated._subscriptions, SnapshotSubscriptions)
