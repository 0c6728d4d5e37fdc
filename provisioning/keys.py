"""Per-device update keys, derived from one hub master key kept 0600 in the data folder.

The hub must sign updates, so it cannot keep only a hash of the key (as it does for the MQTT secret).
Deriving each device's key as HMAC-SHA256(master, device id) means the database holds no update key
at all: a leaked database or backup cannot sign an update; a leaked master key can sign for every device.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

MASTER_FILE = Path("keys") / "update-master.key"


def master_path(data_dir: Path) -> Path:
    """Where the master key lives under a data folder."""
    return Path(data_dir) / MASTER_FILE


def master_key(data_dir: Path, create: bool = True) -> bytes:
    """The hub's update master key (32 random bytes), created 0600 on first use."""
    path = master_path(data_dir)
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        raise FileNotFoundError(f"no update master key at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def device_update_key(master: bytes, device_id: str) -> bytes:
    """A device's update (and factory-reset) key."""
    return hmac.new(master, b"restock-update-key-v1\0" + device_id.encode(), hashlib.sha256).digest()
