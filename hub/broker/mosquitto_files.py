"""mosquitto files for a production hub: config, password file, pattern ACL, hub account, confirmed reload.

The hub owns them (a revoke or a new device changes them at once); `restock broker` and `restock device`
(provisioning) write them through this module too.

Everything lives in <data_dir>/mosquitto. The password file keeps one PBKDF2 line per device; device
secrets exist in clear only in their config bundle, so lines are added and removed one by one, never
re-rendered from secrets. Revoked devices also get an explicit deny in the ACL: mosquitto does not drop
live connections when the password file changes, but it applies a reloaded ACL to them at once.

The API's worker threads, `restock device add` in another shell and `restock broker run` all change these
files, so every change is a read-modify-write under an exclusive lock on <root>/.lock (flock: threads and
processes alike), and every file is replaced atomically. A SIGHUP tells mosquitto to re-read them, but
mosquitto merges signals that arrive while it reloads, so a reload can be lost: each change also gives a
probe account a new random password, and a reload counts only once mosquitto accepts that password (see
reload()).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.broker.credentials import HUB_USERNAME
from hub.broker.errors import BrokerError
from hub.broker.mosquitto import MosquittoConfig
from hub.broker.mosquitto_auth import hash_password, render_acl_file, verify_password, write_atomically
from hub.broker.probe import login_result

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
# The account whose password proves which version of the files mosquitto has loaded. It can never be a
# device id (those start with a letter or digit) and the ACL denies it every topic.
PROBE_USERNAME = "_reload-probe"
# How long reload() waits for mosquitto to show it applied the files, and how often it signals again.
RELOAD_TIMEOUT = 10.0
RESIGNAL_EVERY = 1.0


class TlsFiles(Protocol):
    """The broker's certificate files (provisioning's PKI folder); the TLS listener is written once they exist."""

    @property
    def ca_cert(self) -> Path: ...

    @property
    def server_cert(self) -> Path: ...

    @property
    def server_key(self) -> Path: ...

    def exists(self) -> bool: ...


class ReloadNotConfirmed(BrokerError):
    """mosquitto runs, but did not show within RELOAD_TIMEOUT that it re-read the password and ACL files."""


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

    @property
    def probe(self) -> Path:
        """The probe account's current password (0600): the files mosquitto must have loaded."""
        return self.root / "reload.probe"

    @property
    def lock(self) -> Path:
        """Lock file serialising every change to these files, across threads and processes."""
        return self.root / ".lock"

    def configured(self) -> bool:
        """True once `restock broker config` has written the files."""
        return self.passwd.exists() and self.acl.exists()


def _write(path: Path, text: str, mode: int) -> None:
    # mosquitto re-reads these on SIGHUP at any moment: it must see the old file or the new one, never half
    write_atomically(path, text, mode)


@contextmanager
def _locked(files: BrokerFiles) -> Iterator[None]:
    """Hold the files' lock. flock locks belong to an open file, so two threads block each other as two
    processes do; not re-entrant: functions that take it never call each other."""
    files.root.mkdir(parents=True, exist_ok=True)
    with open(files.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_password_lines(path: Path) -> dict[str, str]:
    """username -> its whole 'username:hash' line."""
    lines: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            user, sep, _ = line.partition(":")
            if sep and user and not line.startswith("#"):
                lines[user] = line
    return lines


def _revoked(files: BrokerFiles) -> list[str]:
    if not files.revoked.exists():
        return []
    return sorted({x.strip() for x in files.revoked.read_text().splitlines() if x.strip()})


def render_acl(revoked: list[str]) -> str:
    """The pattern ACL (own event/status write, own cmd read, hub account) plus a deny-all per revoked device."""
    text = render_acl_file(HUB_USERNAME)
    # A user-specific deny is checked before any pattern grants access, and applies to live sessions.
    text += f"\n# proves a reload, may do nothing\nuser {PROBE_USERNAME}\ntopic deny #\n"
    for device_id in revoked:
        text += f"\n# revoked\nuser {device_id}\ntopic deny #\n"
    return text


def _commit(files: BrokerFiles, lines: dict[str, str], revoked: list[str]) -> None:
    """Write password file, revoked list and ACL with a new probe password; the caller holds the lock."""
    probe = secrets.token_urlsafe(18)
    lines = {**lines, PROBE_USERNAME: f"{PROBE_USERNAME}:{hash_password(probe)}"}
    _write(files.revoked, "".join(r + "\n" for r in revoked), 0o600)
    _write(files.acl, render_acl(revoked), 0o600)
    _write(files.passwd, "".join(lines[u] + "\n" for u in sorted(lines)), 0o600)
    # Written last: whoever reads it (under the lock) finds a password file that already holds it.
    _write(files.probe, probe + "\n", 0o600)


def _hub_password(files: BrokerFiles) -> str:
    if files.hub_secret.exists():
        return files.hub_secret.read_text().strip()
    password = secrets.token_urlsafe(24)
    _write(files.hub_secret, password + "\n", 0o600)
    return password


def hub_password(files: BrokerFiles) -> str:
    """The hub account's password, created on first use."""
    if files.hub_secret.exists():
        return files.hub_secret.read_text().strip()
    with _locked(files):  # two first uses at once must not hand out two passwords
        return _hub_password(files)


def write_config(
    files: BrokerFiles,
    *,
    port: int = DEFAULT_PORT,
    pki: TlsFiles | None = None,
    tls_port: int = DEFAULT_TLS_PORT,
    tls_bind: str = "0.0.0.0",
) -> MosquittoConfig:
    """Write mosquitto.conf, the password file (hub account kept or created) and the ACL; return the config.

    The plain listener binds to 127.0.0.1 for the hub; devices use the TLS listener (tls_bind) once the PKI exists.
    """
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
    with _locked(files):
        password = _hub_password(files)
        lines = read_password_lines(files.passwd)
        lines[HUB_USERNAME] = f"{HUB_USERNAME}:{hash_password(password)}"
        _commit(files, lines, _revoked(files))
        _write(files.conf, config.render(), 0o600)
    return config


def hub_url(files: BrokerFiles, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    """RESTOCK_MQTT_URL for the hub's own account."""
    return f"mqtt://{HUB_USERNAME}:{hub_password(files)}@{host}:{port}"


def add_device(files: BrokerFiles, device_id: str, secret: str) -> bool:
    """Give a device its broker login (or a new secret); False, and nothing changed, if it was revoked.

    Device ids are never reused (the hub keeps revoked devices), so an add that arrives after the device's
    revoke is a late one from a race, and must not bring its login back.
    """
    with _locked(files):
        revoked = _revoked(files)
        if device_id in revoked:
            log.warning("mosquitto login for %r not added: the device is revoked", device_id)
            return False
        lines = read_password_lines(files.passwd)
        lines[device_id] = f"{device_id}:{hash_password(secret)}"
        _commit(files, lines, revoked)
    return True


def remove_device(files: BrokerFiles, device_id: str) -> None:
    """Take a device's login away and deny its live session everything."""
    with _locked(files):
        lines = read_password_lines(files.passwd)
        lines.pop(device_id, None)
        _commit(files, lines, sorted({*_revoked(files), device_id}))


def _pid(files: BrokerFiles) -> int | None:
    try:
        return int(files.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _plain_port(files: BrokerFiles) -> int | None:
    # The first listener of a generated mosquitto.conf is the hub's plain one on 127.0.0.1.
    try:
        for line in files.conf.read_text().splitlines():
            if line.startswith("listener "):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _current_probe(files: BrokerFiles) -> str:
    """The probe password the files hold now, re-committed if a crash left it out of step with them."""
    with _locked(files):
        probe = files.probe.read_text().strip() if files.probe.exists() else ""
        line = read_password_lines(files.passwd).get(PROBE_USERNAME, "")
        if not probe or not verify_password(probe, line.partition(":")[2]):
            _commit(files, read_password_lines(files.passwd), _revoked(files))
            probe = files.probe.read_text().strip()
        return probe


# Per folder, the probe password mosquitto was last seen to accept, and a lock so that concurrent callers
# in this process share one reload: the first confirms the newest files, the rest find them confirmed.
_confirmed: dict[Path, str] = {}
_confirming: dict[Path, threading.Lock] = {}
_registry_lock = threading.Lock()


def reload(files: BrokerFiles, timeout: float = RELOAD_TIMEOUT) -> bool:
    """Make the running mosquitto apply the password and ACL files as they are now, and wait until it has.

    True once mosquitto accepts the probe password of the current files; False if no mosquitto runs (it reads
    them when it starts); ReloadNotConfirmed if it runs but does not show it applied them within timeout.
    """
    pid, port = _pid(files), _plain_port(files)
    if pid is None or port is None or not _alive(pid):
        return False
    root = files.root.resolve()
    with _registry_lock:
        lock = _confirming.setdefault(root, threading.Lock())
    with lock:
        probe = _current_probe(files)
        if _confirmed.get(root) == probe:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                return False
            # mosquitto reloads in milliseconds; ask soon, then less often (each refused probe is a log line)
            resignal, pause = min(deadline, time.monotonic() + RESIGNAL_EVERY), 0.01
            while time.monotonic() < resignal:
                time.sleep(pause)
                pause = min(2 * pause, 0.1)
                if login_result("127.0.0.1", port, PROBE_USERNAME, probe) == 0:
                    _confirmed[root] = probe
                    return True
            probe = _current_probe(files)  # newer files since? then those are the ones to see loaded
    raise ReloadNotConfirmed(
        f"mosquitto (pid {pid}) did not apply {files.passwd} and {files.acl} within {timeout:g} s; "
        "run 'restock broker reload' or restart it"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _apply(files: BrokerFiles, what: str) -> None:
    try:
        reload(files)
    except ReloadNotConfirmed as exc:
        # The change is on disk and mosquitto applies it at its next reload or start; the caller's own
        # change (a committed device, a committed revoke) stands, so this is reported, not raised.
        log.error("%s: %s", what, exc)


def add_if_configured(data_dir: Path, device_id: str, secret: str) -> bool:
    """add_device + confirmed reload when this hub runs with generated mosquitto files; False otherwise."""
    files = BrokerFiles.in_data_dir(data_dir)
    if not files.configured():
        return False
    if add_device(files, device_id, secret):
        _apply(files, f"mosquitto login of {device_id} added")
    return True


def revoke_if_configured(data_dir: Path, device_id: str) -> bool:
    """remove_device + confirmed reload when this hub runs with generated mosquitto files; False otherwise."""
    files = BrokerFiles.in_data_dir(data_dir)
    if not files.configured():
        return False
    remove_device(files, device_id)
    _apply(files, f"mosquitto login of {device_id} removed")
    return True
