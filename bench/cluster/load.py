"""Fleet load spread over a cluster's MQTT listeners, surviving the death of a node: a device whose node went
away connects to the next one and replays what it kept, by the protocol's replay rule (simulator/fleet.py).

Feedback arrivals are sampled while the load runs, so the longest silence after a kill (the stall) can be read.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.domain.events import MAX_SEQ
from simulator.fleet import FIRST_SEQ_ROOM, FleetDevice, FleetStats

SAMPLE_S = 0.02  # resolution of the stall figure
TICK_S = 0.2  # how often overdue events are replayed


@dataclass
class LoadResult:
    """What a run achieved, beyond the fleet's own figures."""

    stats: FleetStats
    lost: int  # events never answered by the end of the settle time
    reconnects: int
    feedback_times: list[tuple[float, int]] = field(default_factory=list)  # (perf_counter, feedback so far)
    marks: dict[str, float] = field(default_factory=dict)  # name → perf_counter of a timed action
    sent: set[tuple[str, int]] = field(default_factory=set)  # (device, seq) of every event sent

    def stall_after(self, mark: str) -> float | None:
        """Seconds from the mark to the first feedback after the longest silence that began after it."""
        at = self.marks.get(mark)
        if at is None:
            return None
        longest, last_time, last_count = 0.0, at, None
        for when, count in self.feedback_times:
            if when < at:
                last_count = count
                continue
            if last_count is not None and count > last_count:
                longest = max(longest, when - last_time)
                last_time = when
            last_count = count
        return longest


async def drive(
    ports: Sequence[int],
    credentials: Sequence[tuple[str, str | None]],
    rate: float,
    duration: float,
    *,
    replay_share: float = 0.0,
    actions: Sequence[tuple[float, str, Callable[[], object]]] = (),
    settle: float = 60.0,
    host: str = "127.0.0.1",
    seed: int = 1,
) -> LoadResult:
    """Device i on ports[i % len(ports)]; `rate` presses/s for `duration` s, a share of them sent twice at once
    (a replay); each action (offset s, name, call) runs in a thread at its offset, timed as a mark."""
    stats = FleetStats()
    rng = random.Random(seed)
    first_seq = random.SystemRandom().randrange(1, MAX_SEQ - FIRST_SEQ_ROOM)
    fleet = [FleetDevice(device_id, secret, stats, first_seq) for device_id, secret in credentials]
    for i, device in enumerate(fleet):
        # Device i starts on node i mod n; when its node dies it moves on to the next.
        device.addresses = [(host, ports[(i + k) % len(ports)]) for k in range(len(ports))]
    for start in range(0, len(fleet), 100):
        batch = fleet[start : start + 100]
        await asyncio.gather(*(d.connect(*d.addresses[0]) for d in batch))
        stats.connected += len(batch)
    result = LoadResult(stats, 0, 0)
    sampler = asyncio.create_task(_sample(stats, result.feedback_times))
    keeper = asyncio.create_task(_replay_due(fleet))
    runs = [asyncio.create_task(_act(offset, name, call, result)) for offset, name, call in actions]
    try:
        started = time.perf_counter()
        stats.first_sent_at = started
        for n in range(int(rate * duration)):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            device = rng.choice(fleet)
            device.send({"type": "press", "click": "single"})
            if rng.random() < replay_share:
                device.replay(device.seq)
        await asyncio.gather(*runs)
        deadline = time.perf_counter() + settle
        # The devices count their feedback as it arrives; nothing signals "all answered", so it is polled.
        while stats.feedback < stats.sent and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    finally:
        for task in (sampler, keeper, *runs):
            task.cancel()
        await asyncio.gather(*(d.close() for d in fleet), return_exceptions=True)
    result.lost = sum(len(d.pending) for d in fleet)
    result.reconnects = stats.reconnects
    result.sent = {(d.device_id, seq) for d in fleet for seq in range(first_seq, d.seq + 1)}
    return result


async def _act(offset: float, name: str, call: Callable[[], object], result: LoadResult) -> None:
    await asyncio.sleep(offset)
    result.marks[name] = time.perf_counter()
    await asyncio.to_thread(call)


async def _sample(stats: FleetStats, times: list[tuple[float, int]]) -> None:
    while True:
        times.append((time.perf_counter(), stats.feedback))
        await asyncio.sleep(SAMPLE_S)


async def _replay_due(fleet: list[FleetDevice]) -> None:
    while True:
        await asyncio.sleep(TICK_S)
        now = time.perf_counter()
        for device in fleet:
            device.replay_due(now)
