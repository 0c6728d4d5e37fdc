"""A device's config bundle: config.json with its credentials, the CA to pin, and the claim code + QR."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno


@dataclass(frozen=True)
class Network:
    """Where the device connects: Wi-Fi and the broker."""

    wifi_ssid: str
    wifi_password: str
    broker_host: str
    broker_port: int
    tls: bool


def default_broker_host_note(host: str) -> str:
    """What `restock device add` says when it put this machine's host name into a bundle unasked."""
    return (f"broker host {host!r} is this machine's name (the default): the device must resolve it on its "
            "Wi-Fi, and with TLS it must be a --host of 'restock pki init'; pass --broker-host (or set "
            "RESTOCK_BROKER_HOST) to use another name or address")


def device_config(
    device_id: str, kind: str, secret: str, update_key: bytes, net: Network, **extra: Any
) -> dict[str, Any]:
    """config.json for the firmware (firmware/lib/config.py validates the same keys)."""
    cfg: dict[str, Any] = {
        "device_id": device_id,
        "kind": kind,
        "secret": secret,
        "update_key": update_key.hex(),
        "wifi": {"ssid": net.wifi_ssid, "password": net.wifi_password},
        "broker": {"host": net.broker_host, "port": net.broker_port, "tls": net.tls},
    }
    if net.tls:
        cfg["broker"]["ca"] = "ca.pem"
    cfg.update(extra)
    return cfg


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def write_bundle(out: Path, config: dict[str, Any], ca_pem: bytes | None, claim_code: str | None) -> Path:
    """Write <out>/<device_id>/: config.json (0600: it holds the secrets), ca.pem, claim.txt/.svg/.png."""
    folder = Path(out) / str(config["device_id"])
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    _write(folder / "config.json", json.dumps(config, indent=1).encode() + b"\n", 0o600)
    if ca_pem is not None:
        _write(folder / "ca.pem", ca_pem, 0o644)
    if claim_code is not None:
        _write(folder / "claim.txt", claim_code.encode() + b"\n", 0o600)
        qr = claim_qr(claim_code)
        qr.save(str(folder / "claim.svg"), scale=4)
        qr.save(str(folder / "claim.png"), scale=6)
    return folder


def claim_qr(code: str) -> segno.QRCode:
    """The QR code of a claim code (just the code: any scanner app shows what to type)."""
    return segno.make(code, error="m", micro=False)


def device_files(folder: Path) -> dict[str, Path]:
    """What of a bundle goes onto the device (device path -> local file); the claim code stays off it."""
    files = {"config.json": folder / "config.json"}
    if (folder / "ca.pem").exists():
        files["ca.pem"] = folder / "ca.pem"
    return files
