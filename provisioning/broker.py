"""mosquitto files for a production hub: config, password file, pattern ACL, hub account, reload.

Everything lives in <data_dir>/mosquitto. The password file keeps one PBKDF2 line per device; device
secrets exist in clear only in their config bundle, so lines are added and removed one by one, never
re-rendered from secrets. Revoked devices also get an explicit deny in the ACL: mosquitto does not drop
live connections when the password file changes, but it applies a reloaded ACL to them at once.
"""

from __future__ import annotations

import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from hub.broker.credentials import HUB_USERNAME
from hub.broker.mosquitto import MosquittoConfig
from hub.broker.mosquitto_auth import hash_password, render_acl_file, write_atomically
from provisioning.pki import PkiPaths

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


@dataclass(frozen=True)
class BrokerFiles:
    """Paths of the generated mosquitto files."""

    root: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> BrokerFiles:
        """The files of the hub whose data folder is data_dir."""
        return cls(Path(data_dir) / "mosquitto")

    @property
    def conf(self) -> Path:
        """mosquitto.conf."""
        return self.root / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        """password_file ($7$ PBKDF2-SHA512 lines)."""
        return self.root / "passwd"

    @property
    def acl(self) -> Path:
        """acl_file (patterns plus the hub account and revoked devices)."""
        return self.root / "acl"

    @property
    def pid(self) -> Path:
        """pid_file written by mosquitto."""
        return self.root / "mosquitto.pid"

    @property
    def hub_secret(self) -> Path:
        """The hub account's password (0600)."""
        return self.root / "hub.secret"

    @property
    def revoked(self) -> Path:
        """Device ids denied everything in the ACL, one per line."""
        return self.root / "revoked"

    def configured(self) -> bool:
        """True once `restock broker config` has written the files."""
        return self.passwd.exists() and self.acl.exists()


def _write(path: Path, text: str, mode: int) -> None:
    # mosquitto re-reads these on SIGHUP at any moment: it must see the old file or the new one, never half
    write_atomically(path, text, mode)


def read_password_lines(path: Path) -> dict[str, str]:
    """username -> its whole 'username:hash' line."""
    lines: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            user, sep, _ = line.partition(":")
            if sep and user and not line.startswith("#"):
                lines[user] = line
    return lines


def _write_passwords(files: BrokerFiles, lines: dict[str, str]) -> None:
    _write(files.passwd, "".join(lines[u] + "\n" for u in sorted(lines)), 0o600)


def _revoked(files: BrokerFiles) -> list[str]:
    if not files.revoked.exists():
        return []
    return sorted({x.strip() for x in files.revoked.read_text().splitlines() if x.strip()})


def render_acl(revoked: list[str]) -> str:
    """The pattern ACL (own event/status write, own cmd read, hub account) plus a deny-all per revoked device."""
    text = render_acl_file(HUB_USERNAME)
    for device_id in revoked:
        # A user-specific deny is checked before any pattern grants access, and applies to live sessions.
        text += f"\n# revoked\nuser {device_id}\ntopic deny #\n"
    return text


def _write_acl(files: BrokerFiles, revoked: list[str]) -> None:
    _write(files.revoked, "".join(r + "\n" for r in revoked), 0o600)
    _write(files.acl, render_acl(revoked), 0o600)


def hub_password(files: BrokerFiles) -> str:
    """The hub account's password, created on first use."""
    if files.hub_secret.exists():
        return files.hub_secret.read_text().strip()
    password = secrets.token_urlsafe(24)
    _write(files.hub_secret, password + "\n", 0o600)
    return password


def write_config(
    files: BrokerFiles,
    *,
    port: int = DEFAULT_PORT,
    pki: PkiPaths | None = None,
    tls_port: int = DEFAULT_TLS_PORT,
    tls_bind: str = "0.0.0.0",
) -> MosquittoConfig:
    """Write mosquitto.conf, the password file (hub account kept or created) and the ACL; return the config.

    The plain listener binds to 127.0.0.1 for the hub; devices use the TLS listener (tls_bind) once the PKI exists.
    """
    password = hub_password(files)
    lines = read_password_lines(files.passwd)
    lines[HUB_USERNAME] = f"{HUB_USERNAME}:{hash_password(password)}"
    _write_passwords(files, lines)
    _write_acl(files, _revoked(files))
    tls = pki is not None and pki.exists()
    config = MosquittoConfig(
        port=port,
        data_dir=files.root,
        password_file=files.passwd,
        acl_file=files.acl,
        tls_port=tls_port if tls else None,
        tls_bind=tls_bind,
        cafile=pki.ca_cert if tls and pki else None,
        certfile=pki.server_cert if tls and pki else None,
        keyfile=pki.server_key if tls and pki else None,
    )
    _write(files.conf, config.render(), 0o600)
    return config


def hub_url(files: BrokerFiles, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    """RESTOCK_MQTT_URL for the hub's own account."""
    return f"mqtt://{HUB_USERNAME}:{hub_password(files)}@{host}:{port}"


def add_device(files: BrokerFiles, device_id: str, secret: str) -> None:
    """Give a device its broker login (or replace it) and lift any revocation."""
    lines = read_password_lines(files.passwd)
    lines[device_id] = f"{device_id}:{hash_password(secret)}"
    _write_passwords(files, lines)
    revoked = [r for r in _revoked(files) if r != device_id]
    _write_acl(files, revoked)


def remove_device(files: BrokerFiles, device_id: str) -> None:
    """Take a device's login away and deny its live session everything."""
    lines = read_password_lines(files.passwd)
    lines.pop(device_id, None)
    _write_passwords(files, lines)
    _write_acl(files, sorted({*_revoked(files), device_id}))


def reload(files: BrokerFiles) -> bool:
    """SIGHUP the running mosquitto (pid file) so it re-reads password and ACL files; False if none runs."""
    try:
        pid = int(files.pid.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def add_if_configured(data_dir: Path, device_id: str, secret: str) -> bool:
    """add_device + reload when this hub runs with generated mosquitto files; False otherwise."""
    files = BrokerFiles.in_data_dir(data_dir)
    if not files.configured():
        return False
    add_device(files, device_id, secret)
    reload(files)
    return True


def revoke_if_configured(data_dir: Path, device_id: str) -> bool:
    """remove_device + reload when this hub runs with generated mosquitto files; False otherwise."""
    files = BrokerFiles.in_data_dir(data_dir)
    if not files.configured():
        return False
    remove_device(files, device_id)
    reload(files)
    return True
