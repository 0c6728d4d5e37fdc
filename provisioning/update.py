"""Signed firmware updates (docs/protocol.md §5 `update`): manifest, authentication, chunks, publishing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

TAG = b"restock-update-v1\n"
FACTORY_TAG = b"restock-factory-reset-v1\n"
CHUNK = 512  # raw bytes per update_data; base64 and the JSON around it stay under the 1024-byte payload cap
LOADER_FILES = frozenset({"main.py"})  # main.py + lib/fwslot pick the slot; an update never replaces main.py


def announce_mac(key: bytes, device_id: str, version: int, size: int, manifest_sha: str) -> str:
    """Hex HMAC-SHA256 that authenticates an announcement (the firmware computes the same)."""
    msg = TAG + f"{device_id}\n{version}\n{size}\n{manifest_sha}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def factory_reset_command(key: bytes, device_id: str) -> dict[str, Any]:
    """The authenticated factory_reset cmd for one device."""
    return {"type": "factory_reset", "mac": hmac.new(key, FACTORY_TAG + device_id.encode(), hashlib.sha256).hexdigest()}


def manifest(device_id: str, version: int, files: Mapping[str, bytes]) -> bytes:
    """The manifest: version, device and [path, size, sha256] per file, as compact JSON."""
    entries = [[path, len(data), hashlib.sha256(data).hexdigest()] for path, data in sorted(files.items())]
    return json.dumps({"version": version, "device": device_id, "files": entries}, separators=(",", ":")).encode()


def _chunks(version: int, index: int, data: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "update_data", "version": version, "file": index, "offset": off,
         "data": base64.b64encode(data[off : off + CHUNK]).decode()}
        for off in range(0, len(data), CHUNK)
    ]


def messages(device_id: str, key: bytes, version: int, files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Every cmd of one update, in order: the announcement, the manifest (file 0), then each file."""
    if version < 1:
        raise ValueError("update versions start at 1 and only go up")
    if not files:
        raise ValueError("an update needs at least one file")
    m = manifest(device_id, version, files)
    sha = hashlib.sha256(m).hexdigest()
    out: list[dict[str, Any]] = [
        {"type": "update", "version": version, "size": len(m), "manifest": sha,
         "mac": announce_mac(key, device_id, version, len(m), sha)}
    ]
    out += _chunks(version, 0, m)
    for index, path in enumerate(sorted(files), start=1):
        out += _chunks(version, index, files[path])
    return out


def files_from_build(folder: Path) -> dict[str, bytes]:
    """An app's build output (`restock firmware build`) as update files; main.py stays the loader."""
    files: dict[str, bytes] = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in LOADER_FILES:
            files[rel] = path.read_bytes()
    if not files:
        raise FileNotFoundError(f"no firmware files in {folder}")
    return files


def publish(
    mqtt_url: str, device_id: str, payloads: list[dict[str, Any]], on_sent: Callable[[int], None] | None = None,
    timeout: float = 30.0,
) -> None:
    """Publish cmds (QoS 1, in order) on the device's cmd topic with the hub's account from mqtt_url."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    url = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"restock-cli-{device_id}"[:23])
    if url.username:
        client.username_pw_set(unquote(url.username), unquote(url.password or ""))
    if url.scheme == "mqtts":
        client.tls_set()
    client.connect(url.hostname or "127.0.0.1", url.port or (8883 if url.scheme == "mqtts" else 1883))
    client.loop_start()
    try:
        for n, payload in enumerate(payloads, start=1):
            info = client.publish(f"restock/v1/{device_id}/cmd", json.dumps(payload, separators=(",", ":")), qos=1)
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge message {n} of {len(payloads)}")
            if on_sent is not None:
                on_sent(n)
    finally:
        client.disconnect()
        client.loop_stop()
