"""A ready-made batch cut to each device's share: order kept, nothing lost, the excess counted per device."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.events import device_of
from hub.ingest.messages import Message, within_share

NOW = datetime(2026, 12, 5, tzinfo=UTC)


@st.composite
def batches(draw: st.DrawFn) -> list[Message]:
    devices = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "flood"]), max_size=300))
    return [Message(f"restock/v1/{d}/event", str(i).encode(), NOW) for i, d in enumerate(devices)]


@settings(max_examples=200, deadline=None)
@given(batches(), st.integers(min_value=1, max_value=70))
def test_each_device_keeps_its_first_messages_up_to_its_share(messages: list[Message], share: int) -> None:
    kept, shed = within_share(messages, share)
    per_device = Counter(device_of(m.topic) for m in messages)
    kept_per_device = Counter(device_of(m.topic) for m in kept)
    for device, n in per_device.items():
        assert kept_per_device[device] == min(n, share)
    # Arrival order is kept, and what is kept of a device is its first messages.
    assert kept == [m for m in messages if m in kept]
    for device in per_device:
        mine = [m for m in messages if device_of(m.topic) == device]
        assert [m for m in kept if device_of(m.topic) == device] == mine[:share]
    # Every message is applied or counted: one record per device over its share, its first dropped as sample.
    assert {s.device_key: s.count for s in shed} == {d: n - share for d, n in per_device.items() if n > share}
    for record in shed:
        mine = [m for m in messages if device_of(m.topic) == record.device_key]
        assert record.first is mine[share]
    assert len(kept) + sum(s.count for s in shed) == len(messages)


def test_a_garbage_topic_counts_under_its_own_key() -> None:
    junk = [Message("not/a/restock/topic", b"x", NOW) for _ in range(5)]
    kept, shed = within_share(junk, 2)
    assert len(kept) == 2 and [s.count for s in shed] == [3]
