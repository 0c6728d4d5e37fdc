"""The kinds of device restock knows: one firmware app each (firmware/<kind>/), with the name a household reads."""

from __future__ import annotations

from enum import StrEnum


class DeviceKind(StrEnum):
    """A device kind, named as its firmware app folder."""

    DASH_BUTTON = "dash_button"
    BARCODE_WAND = "barcode_wand"
    APPLIANCE_SENSOR = "appliance_sensor"

    @property
    def label(self) -> str:
        """What the dashboard calls it."""
        return LABELS[self]


KINDS: tuple[str, ...] = tuple(kind.value for kind in DeviceKind)
LABELS: dict[DeviceKind, str] = {
    DeviceKind.DASH_BUTTON: "Dash button",
    DeviceKind.BARCODE_WAND: "Barcode wand",
    DeviceKind.APPLIANCE_SENSOR: "Appliance sensor",
}
