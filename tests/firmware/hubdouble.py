"""A stand-in for the hub in firmware tests: records events and status, answers with feedback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

Answer = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class HubDouble:
    """Subscribes to restock/v1/+/event and +/status; answer(device_id, event) gives the feedback."""

    def __init__(self, port: int, answer: Answer | None = None, client_id: str = "hub-double") -> None:
        self.port = port
        self.answer = answer
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status: list[tuple[str, dict[str, Any], bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        # A persistent session, like the real hub's: events published while we are away are queued.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.reconnect_delay_set(0.05, 0.2)

    def start(self, timeout: float = 10.0) -> HubDouble:
        """Connect and wait until subscribed."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("hub double did not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([("restock/v1/+/event", 1), ("restock/v1/+/status", 1)])

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device_id, kind = msg.topic.split("/")[2:4]
        data = json.loads(msg.payload)
        with self._cond:
            if kind == "event":
                self.events.append((device_id, data))
            else:
                self.status.append((device_id, data, bool(msg.retain)))
            self._cond.notify_all()
        if kind == "event" and self.answer is not None:
            fb = self.answer(device_id, data)
            if fb is not None:
                self.send(device_id, fb, wait=False)  # the network thread itself must not block

    def send(self, device_id: str, payload: dict[str, Any] | bytes, wait: bool = True) -> None:
        """Publish on the device's cmd topic (QoS 1)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(f"restock/v1/{device_id}/cmd", data, qos=1)
        if wait:
            info.wait_for_publish(5)

    def wait_events(self, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least n events arrived; return all event payloads so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.events)} of {n} events arrived: {self.events}")
                self._cond.wait(left)
            return [e for _, e in self.events]

    def wait_status(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """Wait for a status payload matching pred."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, s, _ in self.status:
                    if pred(s):
                        return s
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching status in {self.status}")
                self._cond.wait(left)
