"""Drive a device of a running demo from another terminal: `restock sim press coffee-button`.

The demo writes where each device's sim board listens (docs/sim-board.md: any number of clients may connect)
to `control.json` in its devices folder; a command connects, sends one control line and waits for the hub's
feedback notification, as the device's own LED would show it.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "control.json"


class ControlError(Exception):
    """The device cannot be reached or did not answer; the message says which and what to do."""


@dataclass(frozen=True)
class Answer:
    """The control channel's reply and, when awaited, the hub's feedback code for the event."""

    reply: str
    feedback: str | None


def write_registry(folder: Path, ports: dict[str, tuple[str, int]]) -> Path:
    """Record each device's app and control port (device id → (app, port)) for `restock sim press` & co."""
    path = folder / REGISTRY
    data = {device: {"app": app, "port": port} for device, (app, port) in ports.items()}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def control_port(folder: Path, device: str) -> int:
    """The control port of a running demo device, from the registry the demo wrote."""
    path = folder / REGISTRY
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ControlError(f"no running demo found ({path} is missing): start one with `restock demo`") from None
    except (OSError, ValueError) as exc:
        raise ControlError(f"cannot read {path}: {exc}") from None
    entry = data.get(device) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("port"), int):
        known = ", ".join(sorted(data)) if isinstance(data, dict) else ""
        raise ControlError(f"the demo has no device {device!r} (it has: {known or 'none'})")
    port: int = entry["port"]
    return port


def send(port: int, line: str, wait_feedback: bool, timeout: float = 20.0) -> Answer:
    """Send one control command; with wait_feedback, also wait for the `* feedback SEQ CODE` that follows."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        raise ControlError(
            f"the device's sim board on port {port} does not answer: is the demo still running?"
        ) from None
    deadline = time.monotonic() + timeout
    reply: str | None = None
    seq: str | None = None  # the event the command stored, once the board says so
    buffer = b""
    with sock:
        sock.sendall(line.encode() + b"\n")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                what = "the hub's feedback" if reply is not None else f"a reply to {line!r}"
                raise ControlError(f"no {what} within {timeout:g} s")
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise ControlError("the device closed its control channel (the demo stopped?)")
            buffer += data
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                text = raw.decode(errors="replace").strip()
                words = text.split()
                if reply is not None and words[:2] == ["*", "event"] and len(words) > 2:
                    seq = seq or words[2]
                if reply is not None and words[:2] == ["*", "feedback"] and len(words) > 3:
                    if seq is None or words[2] == seq:
                        return Answer(reply, words[3])
                if text.startswith("* ") or reply is not None:
                    continue
                if not text.startswith("ok"):
                    raise ControlError(f"{line!r} refused: {text}")
                reply = text[2:].strip()
                if not wait_feedback:
                    return Answer(reply, None)
