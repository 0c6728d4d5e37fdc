"""Simulator tests run against the real hub: reuse the hub fixtures."""

from tests.hub.conftest import broker, database_url, devices, start_hub

__all__ = ["broker", "database_url", "devices", "start_hub"]
