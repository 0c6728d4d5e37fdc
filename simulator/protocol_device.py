"""A device that speaks the wire protocol from CPython (paho-mqtt): for tests, the fleet emulator, the demo.

It behaves like the firmware on the wire: a seq counter, an outbox kept until the hub's feedback for
that seq arrives, replay of the outbox after a reconnect or when feedback is late.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPLAY_AFTER_S = 3.0


class ProtocolDevice:
    """One device connection with the protocol's outbox semantics."""

    def __init__(
        self,
        device_id: str,
        port: int,
        secret: str | None = None,
        host: str = "127.0.0.1",
        replay_after: float = REPLAY_AFTER_S,
    ) -> None:
        self.device_id = device_id
        self.host = host
        self.port = port
        self.replay_after = replay_after
        self.seq = 0
        self.outbox: dict[int, tuple[str, float]] = {}
        self.feedback: dict[int, list[str]] = {}
        self.other_cmds: list[str] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False)
        if secret is not None:
            self.client.username_pw_set(device_id, secret)
        self.client.will_set(self.topic("status"), '{"online": false}', qos=1, retain=True)
        self.client.reconnect_delay_set(1, 2)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._replayer = threading.Thread(target=self._replay_loop, daemon=True)

    def topic(self, channel: str) -> str:
        """This device's topic for a channel."""
        return f"restock/v1/{self.device_id}/{channel}"

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (the client keeps reconnecting by itself afterwards)."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise TimeoutError(f"{self.device_id}: no connection to {self.host}:{self.port}")
        self._replayer.start()

    def close(self) -> None:
        """Disconnect for good."""
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(self.topic("cmd"), qos=1)
        self.connected.set()
        self.resend_outbox()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        raw = message.payload.decode("utf-8", "replace")
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        with self._cond:
            if isinstance(data, dict) and data.get("type") == "feedback" and isinstance(data.get("seq"), int):
                self.feedback.setdefault(data["seq"], []).append(raw)
                self.outbox.pop(data["seq"], None)
            else:
                self.other_cmds.append(raw)
            self._cond.notify_all()

    def _replay_loop(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            with self._cond:
                late = [(s, p) for s, (p, at) in self.outbox.items() if now - at > self.replay_after]
                for seq, payload in late:
                    self.outbox[seq] = (payload, now)
            for _seq, payload in sorted(late):
                self._publish(payload)

    def _publish(self, payload: str) -> None:
        if self.connected.is_set():
            self.client.publish(self.topic("event"), payload, qos=1)

    def send(self, event: Mapping[str, Any]) -> int:
        """Give the event the next seq, keep it in the outbox and publish it; returns the seq."""
        with self._cond:
            self.seq += 1
            seq = self.seq
            payload = json.dumps({"seq": seq, **event}, separators=(",", ":"))
            self.outbox[seq] = (payload, time.monotonic())
        self._publish(payload)
        return seq

    def press(self, click: str = "single") -> int:
        """A button press."""
        return self.send({"type": "press", "click": click})

    def replay(self, seq: int, event: Mapping[str, Any]) -> None:
        """Publish an event again with an old seq (what a device does after a reboot)."""
        self._publish(json.dumps({"seq": seq, **event}, separators=(",", ":")))

    def publish_raw(self, payload: bytes | str, channel: str = "event", retain: bool = False) -> None:
        """Publish any bytes on one of this device's topics (malformed-input tests)."""
        self.client.publish(self.topic(channel), payload, qos=1, retain=retain)

    def resend_outbox(self) -> None:
        """Republish every event still waiting for feedback, oldest first."""
        with self._cond:
            pending = sorted(self.outbox.items())
            now = time.monotonic()
            for seq, (payload, _at) in pending:
                self.outbox[seq] = (payload, now)
        for _seq, (payload, _at) in pending:
            self._publish(payload)

    def wait_feedback(self, seq: int, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:
        """Wait for the `count`-th feedback of a seq; returns it decoded."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.feedback.get(seq, [])) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.device_id}: no feedback #{count} for seq {seq} within {timeout} s")
                self._cond.wait(left)
            result: dict[str, Any] = json.loads(self.feedback[seq][count - 1])
            return result

    def wait_outbox_empty(self, timeout: float = 30.0) -> None:
        """Wait until every sent event has its feedback."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.outbox:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.device_id}: {len(self.outbox)} events without feedback")
                self._cond.wait(left)
