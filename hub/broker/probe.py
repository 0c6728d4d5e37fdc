"""One MQTT 3.1.1 login over a plain socket, to learn what a broker answers (e.g. after a reload)."""

from __future__ import annotations

import secrets
import socket


def _string(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, username: str, password: str, keepalive: int = 10) -> bytes:
    """A clean-session CONNECT with username and password."""
    flags = 0x02 | 0x80 | 0x40
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + keepalive.to_bytes(2, "big")
    body += _string(client_id) + _string(username) + _string(password)
    return b"\x10" + _remaining_length(len(body)) + body


def login_result(host: str, port: int, username: str, password: str, timeout: float = 2.0) -> int | None:
    """The broker's CONNACK return code for this login (0 = accepted), or None if it could not be asked."""
    client_id = f"{username}-{secrets.token_hex(4)}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(connect_packet(client_id, username, password))
            head = b""
            while len(head) < 4:
                chunk = sock.recv(4 - len(head))
                if not chunk:
                    return None
                head += chunk
            if head[0] != 0x20 or head[1] != 2:
                return None
            if head[3] == 0:
                sock.sendall(b"\xe0\x00")  # DISCONNECT: a clean goodbye, no will, no "connection lost" log line
            return head[3]
    except OSError:
        return None
