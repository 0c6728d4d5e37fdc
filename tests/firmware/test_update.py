"""Signed updates against the real firmware: good ones switch, tampered ones are refused, broken ones roll back."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.broker.mosquitto import MosquittoProcess
from provisioning import build as fwbuild
from provisioning import update as fwupdate
from tests.firmware.conftest import feedback_for
from tests.firmware.fwproc import FirmwareProcess
from tests.firmware.hubdouble import HubDouble

pytestmark = [pytest.mark.firmware, pytest.mark.broker, pytest.mark.slow]

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def app_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The dash button's files as an update ships them (bytecode .mpy; main.py stays the loader)."""
    out = tmp_path_factory.mktemp("build")
    bundles = fwbuild.build(out, march=None)
    return {p: f.read_bytes() for p, f in bundles["dash_button"].files.items() if p not in fwupdate.LOADER_FILES}


def compiled(tmp_path: Path, name: str, source: str) -> bytes:
    """Compile one module's source to .mpy the way the build does."""
    src = tmp_path / f"{name}.py"
    src.write_text(source)
    dst = tmp_path / f"{name}.mpy"
    fwbuild.compile_file(src, dst, march=None)
    return dst.read_bytes()


def send_all(hub: HubDouble, device_id: str, payloads: list[dict[str, Any]]) -> None:
    """Publish cmds in order (QoS 1)."""
    for p in payloads:
        hub.send(device_id, p)


def wait_exit(fw: FirmwareProcess, timeout: float = 20.0) -> None:
    """Wait until the firmware process ended (a reset on the sim board)."""
    deadline = time.monotonic() + timeout
    while fw.running:
        if time.monotonic() > deadline:
            raise TimeoutError(f"firmware did not reset:\n{fw.console[-2000:]}")
        time.sleep(0.05)


def fw_state(fw: FirmwareProcess) -> dict[str, Any]:
    """The device's fw.json (slot bookkeeping), {} if none."""
    path = fw.flash / "fw.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def dash(firmware: Callable[..., FirmwareProcess], mosquitto: MosquittoProcess,
         hub_double: Callable[..., HubDouble]) -> tuple[FirmwareProcess, HubDouble, str]:
    """A dash button with an update key, connected once (its session exists) and now asleep."""
    device_id = f"upd-{secrets.token_hex(3)}"
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", device_id, mosquitto.port, update_key=KEY.hex())
    fw.wait("sleep")
    hub.wait_status(lambda s: s.get("online") is True and s.get("fw") == "0.1.0")
    return fw, hub, device_id


def test_good_update_is_applied(dash: tuple[FirmwareProcess, HubDouble, str], app_build: dict[str, bytes],
                                tmp_path: Path) -> None:
    """A correctly signed update: staged, verified, switched; after the reboot the new version runs and is kept."""
    fw, hub, device_id = dash
    files = dict(app_build)
    files["lib/version.mpy"] = compiled(tmp_path, "version", 'FW_VERSION = "0.2.0"\n')
    send_all(hub, device_id, fwupdate.messages(device_id, KEY, 2, files))
    fw.press()  # wakes it: the queued update arrives with the session
    fw.wait("update", "start 2")
    fw.wait("update", "switch 2", timeout=60)
    wait_exit(fw)
    fw.restart()
    fw.wait("update", "ok 2")
    hub.wait_status(lambda s: s.get("fw") == "0.2.0")
    assert (fw.flash / "fw" / "2" / "lib" / "link.mpy").exists()
    state = fw_state(fw)
    assert state["version"] == 2 and state["pending"] is False
    mark = fw.mark()
    fw.press()  # and it still does its job
    fw.wait("feedback", lambda d: d.endswith("ordered"), since=mark)


def _flip_file_byte(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    target = next(p for p in payloads if p["type"] == "update_data" and p["file"] == 3)
    raw = bytearray(base64.b64decode(target["data"]))
    raw[len(raw) // 2] ^= 0x01
    target["data"] = base64.b64encode(bytes(raw)).decode()
    return payloads


def _flip_manifest_byte(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    target = next(p for p in payloads if p["type"] == "update_data" and p["file"] == 0)
    raw = bytearray(base64.b64decode(target["data"]))
    i = raw.index(b'"files"') + 20  # inside the first file entry
    raw[i] ^= 0x01
    target["data"] = base64.b64encode(bytes(raw)).decode()
    return payloads


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param("file_byte", "hash", id="one-byte-changed-in-a-file"),
        pytest.param("manifest_byte", "manifest", id="one-byte-changed-in-the-manifest"),
        pytest.param("wrong_key", "mac", id="wrong-key"),
        pytest.param("stale", "stale", id="stale-version"),
    ],
)
def test_tampered_update_is_refused_and_old_version_keeps_running(
    firmware: Callable[..., FirmwareProcess], mosquitto: MosquittoProcess, hub_double: Callable[..., HubDouble],
    app_build: dict[str, bytes], tmp_path: Path, tamper: str, reason: str,
) -> None:
    """Each tampering is refused with its reason; nothing switches and the device keeps working on 0.1.0."""
    device_id = f"tam-{secrets.token_hex(3)}"
    flash = tmp_path / f"{device_id}-flash"
    flash.mkdir()
    if tamper == "stale":  # a device that already ran update 5
        (flash / "fw.json").write_text(json.dumps({"floor": 5}))
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    fw = firmware("dash_button", device_id, mosquitto.port, update_key=KEY.hex())
    fw.wait("sleep")
    files = dict(app_build)
    files["lib/version.mpy"] = compiled(tmp_path, "version", 'FW_VERSION = "6.6.6"\n')
    key = secrets.token_bytes(32) if tamper == "wrong_key" else KEY
    payloads = fwupdate.messages(device_id, key, 3, files)
    if tamper == "file_byte":
        payloads = _flip_file_byte(payloads)
    elif tamper == "manifest_byte":
        payloads = _flip_manifest_byte(payloads)
    send_all(hub, device_id, payloads)
    fw.press()
    note = fw.wait("update", lambda d: d.startswith("refused"), timeout=60)
    assert note.detail.split()[1] == reason, note.detail
    mark = fw.mark()
    fw.press()
    fw.wait("feedback", lambda d: d.endswith("ordered"), since=mark)
    assert fw.running and fw.count("update", "switch 3") == 0
    assert not (flash / "fw" / "3").exists() and not (flash / "fw" / "stage").exists()
    fw.restart()  # and after a power cycle it is still the old firmware
    hub.wait_status(lambda s: s.get("online") is True and s.get("fw") == "0.1.0")
    assert all(s.get("fw") != "6.6.6" for _, s, _ in hub.status)


def _reboot_until_running(fw: FirmwareProcess, tries: int = 8) -> int:
    """Power the device on again each time it crashes (a watchdog's job); return the number of boots."""
    for n in range(1, tries + 1):
        fw.restart()
        deadline = time.monotonic() + 15
        while fw.running and time.monotonic() < deadline and fw.count("connected") == 0:
            time.sleep(0.05)
        if fw.running and fw.count("connected"):
            return n
    raise AssertionError(f"never came back:\n{fw.console[-3000:]}")


def test_broken_update_rolls_back(dash: tuple[FirmwareProcess, HubDouble, str], app_build: dict[str, bytes],
                                  tmp_path: Path) -> None:
    """A signed update whose app crashes at import: after MAX_BOOTS boots the previous firmware comes back."""
    fw, hub, device_id = dash
    files = dict(app_build)
    files["dash.mpy"] = compiled(tmp_path, "dash", 'raise RuntimeError("broken build")\n')
    files["lib/version.mpy"] = compiled(tmp_path, "version", 'FW_VERSION = "0.3.0-broken"\n')
    send_all(hub, device_id, fwupdate.messages(device_id, KEY, 4, files))
    fw.press()
    fw.wait("update", "switch 4", timeout=60)
    wait_exit(fw)
    fw.notes.clear()
    boots = _reboot_until_running(fw)
    assert boots == 4  # three crashing boots of the new slot, then the rollback
    fw.wait("update", "rolled_back 4 boot")
    assert "broken build" in fw.console
    hub.wait_status(lambda s: s.get("online") is True and s.get("fw") == "0.1.0")
    state = fw_state(fw)
    assert state["slot"] is None and state["version"] == 0 and state["floor"] == 4
    assert not (fw.flash / "fw" / "4").exists()


def test_update_that_cannot_connect_rolls_back(dash: tuple[FirmwareProcess, HubDouble, str],
                                               app_build: dict[str, bytes], tmp_path: Path) -> None:
    """A signed update whose MQTT client never connects: after MAX_FAILS failed connects it is rolled back."""
    fw, hub, device_id = dash
    files = dict(app_build)
    broken = (fwbuild.FIRMWARE_DIR / "lib" / "mqtt.py").read_text().replace(
        '        """Open the connection; return session_present. Raises MQTTError."""\n',
        '        """Open the connection; return session_present. Raises MQTTError."""\n'
        '        raise MQTTError("this build cannot connect")\n')
    files["lib/mqtt.mpy"] = compiled(tmp_path, "mqtt", broken)
    send_all(hub, device_id, fwupdate.messages(device_id, KEY, 5, files))
    fw.press()
    fw.wait("update", "switch 5", timeout=60)
    wait_exit(fw)
    fw.restart()
    wait_exit(fw, timeout=60)  # retries with backoff, then gives up on the new slot and reboots
    assert "this build cannot connect" in fw.console
    fw.restart()
    fw.wait("update", "rolled_back 5 connect")
    hub.wait_status(lambda s: s.get("online") is True and s.get("fw") == "0.1.0")
