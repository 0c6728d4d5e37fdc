"""Firmware processes for tests: the simulator's FirmwareProcess (kept here for existing imports)."""

from simulator.firmware import APPS, FIRMWARE, FirmwareProcess, Note, device_config, micropython_binary

__all__ = ["APPS", "FIRMWARE", "FirmwareProcess", "Note", "device_config", "micropython_binary"]
