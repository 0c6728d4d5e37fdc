"""A small synchronous paho wrapper for broker tests: connect result, received messages, publish with ack."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Client:
    """One MQTT connection that records every message it receives."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None,
                 client_id: str | None = None, ca: Path | None = None, host: str = "127.0.0.1") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self.connect_rc: int | None = None
        self.disconnected = threading.Event()
        self._connected = threading.Event()
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}")
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.on_subscribe = self._on_subscribe
        self.host, self.port = host, port

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
        self.connect_rc = int(getattr(rc, "value", rc))  # type: ignore[call-overload]
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: list[Any], props: Any) -> None:
        with self._cond:
            self.granted += [int(getattr(r, "value", r)) for r in rcs]
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def connect(self, timeout: float = 10.0) -> int:
        """Connect and return the CONNACK code (0 = accepted)."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError("no CONNACK")
        assert self.connect_rc is not None
        return self.connect_rc

    def subscribe(self, topic: str, timeout: float = 10.0) -> None:
        """Subscribe (QoS 1) and wait for the SUBACK."""
        with self._cond:
            n = len(self.granted)
        self.client.subscribe(topic, qos=1)
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.granted) > n, timeout):
                raise TimeoutError(f"no SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes | str, timeout: float = 10.0) -> None:
        """Publish QoS 1 and wait for the PUBACK (mosquitto acks even what its ACL drops)."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)

    def wait_message(self, topic: str, timeout: float = 10.0) -> bytes:
        """The first message on topic, waiting for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, p in self.messages:
                    if t == topic:
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"nothing on {topic}; got {self.messages}")
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
