"""A blocking raw-socket MQTT client for broker limit tests: sends any bytes, sees when the broker hangs up."""

from __future__ import annotations

import socket
import time

from simulator.codec import codec

PINGREQ = b"\xc0\x00"


def publish_header(topic: str, declared_payload: int) -> bytes:
    """The start of a QoS 0 PUBLISH whose header declares `declared_payload` payload bytes."""
    body_head = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    return b"\x30" + bytes(codec.varlen(len(body_head) + declared_payload)) + body_head


class RawClient:
    """One TCP connection to a broker, driven byte by byte."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def login(self, user: str | None, password: str | None = None, *, keepalive: int = 60,
              will: tuple[str, bytes] | None = None) -> int:
        """Send CONNECT (client id = user) and return the CONNACK return code."""
        topic, message = will if will is not None else (None, None)
        self.sock.sendall(codec.connect(user or "anon-raw", keepalive, True, user, password, topic, message, 1))
        head = self._recv_exactly(4)
        assert head[0] == 0x20, head
        return head[3]

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed before the CONNACK")
            data += chunk
        return data

    def send(self, data: bytes) -> bool:
        """Send data; False if the broker hung up on the way."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def closed_by_peer(self, within: float) -> bool:
        """True if the broker closes the connection within `within` seconds (anything it sends is read and dropped)."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except OSError:  # reset: the broker aborted the connection
                return True
        return False

    def close(self) -> None:
        """Close our end."""
        self.sock.close()
