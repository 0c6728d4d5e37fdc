"""Is a device online, asleep as designed, or missing?

Battery devices connect only while awake and drop the link before deep sleep, so the broker's last will marks
them disconnected between wakes (docs/protocol.md §4). Disconnected is therefore normal: a device is offline
only when it missed a check-in it should have made. Dash buttons and barcode wands wake only when used, so they
owe no check-in; an appliance sensor reports at least every `report_every_h` (6 h unless configured).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from hub.domain.devices import DeviceKind


class Presence(StrEnum):
    """What the dashboard says about a device's connection."""

    ONLINE = "online"
    ASLEEP = "asleep"
    OFFLINE = "offline"
    NEVER = "never"  # paired but not heard from yet


# Kinds that deep-sleep between wakes, and the longest they stay silent by design (None: until used).
CHECK_IN: dict[str, timedelta | None] = {
    DeviceKind.DASH_BUTTON: None,
    DeviceKind.BARCODE_WAND: None,
    DeviceKind.APPLIANCE_SENSOR: timedelta(hours=6),
}
# A check-in is missed only after this share of the interval on top: clocks drift, Wi-Fi joins take time.
GRACE = 0.5


def presence(kind: str, online: bool, last_seen: datetime | None, now: datetime) -> Presence:
    """The device's presence from its last status and the time of its last message."""
    if online:
        return Presence.ONLINE
    if last_seen is None:
        return Presence.NEVER
    if kind not in CHECK_IN:
        return Presence.OFFLINE  # a device that does not sleep by design is gone when disconnected
    interval = CHECK_IN[kind]
    if interval is None or now - last_seen <= interval * (1 + GRACE):
        return Presence.ASLEEP
    return Presence.OFFLINE
