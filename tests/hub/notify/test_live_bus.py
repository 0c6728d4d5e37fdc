"""The live bus: a subscription that names kinds gets only events of those kinds."""

from __future__ import annotations

import asyncio

from hub.notify.live import DEVICE, ORDER, READING, LiveBus, Subscription


async def _drain(sub: Subscription) -> list[str]:
    kinds = []
    while (event := await sub.get(within=0)) is not None:
        kinds.append(event.kind)
    return kinds


async def test_a_subscription_with_kinds_gets_only_those_kinds() -> None:
    bus = LiveBus()
    bus.attach(asyncio.get_running_loop())
    with bus.subscribe(None, frozenset({DEVICE, READING})) as some, bus.subscribe(7) as household:
        bus.publish_many([(7, ORDER, {"id": "o-1"}), (7, DEVICE, {"id": "btn"}), (8, READING, {"slot": "a"})])
        await asyncio.sleep(0.01)  # the hand-over to the loop (call_soon_threadsafe)
        assert await _drain(some) == [DEVICE, READING]
        assert await _drain(household) == [ORDER, DEVICE]
