"""The firmware's own MQTT 3.1.1 codec (firmware/lib/mqtt_codec.py), loaded into CPython.

The fleet emulator speaks exactly the bytes the devices speak, because it runs the same code.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from simulator.firmware import FIRMWARE


def load_codec() -> ModuleType:
    """Import firmware/lib/mqtt_codec.py under the name `restock_fw_mqtt_codec`."""
    path = FIRMWARE / "lib" / "mqtt_codec.py"
    spec = importlib.util.spec_from_file_location("restock_fw_mqtt_codec", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the firmware MQTT codec from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


codec = load_codec()

# The packet types the fleet compares (MQTT 3.1.1 section 2.2.1). The firmware keeps them as private
# const() names, which cost the device no RAM but are not module attributes there.
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
DISCONNECT = b"\xe0\x00"
