"""Errors of the broker layer, so callers never see amqtt's or the OS's exceptions directly."""

from __future__ import annotations


class BrokerError(Exception):
    """The MQTT broker could not be started, stopped or configured."""
