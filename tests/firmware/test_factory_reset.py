"""Factory reset on the device: an authenticated cmd or a 15 s hold wipes config, credentials, outbox and seq."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest

from hub.broker.mosquitto import MosquittoProcess
from provisioning import update as fwupdate
from tests.firmware.fwproc import FirmwareProcess
from tests.firmware.hubdouble import HubDouble

pytestmark = [pytest.mark.firmware, pytest.mark.broker]

KEY = bytes(range(32, 64))
WIPED = ("config.json", "config.ok", "seq", "outbox")  # config.ok holds the checked config, secret too


def _with_pending_event(firmware: Callable[..., FirmwareProcess], port: int, device_id: str) -> FirmwareProcess:
    """A dash button whose press got no feedback: config, seq and an outbox entry are in its flash."""
    fw = firmware("dash_button", device_id, port, update_key=KEY.hex(), retry_s=30.0, retry_max_s=60.0)
    fw.wait("sleep")
    fw.press()
    fw.wait("event")
    fw.wait("sleep", lambda d: d != "none")  # feedback never came: it sleeps with a retry timer
    assert list((fw.flash / "outbox").glob("*.ev"))
    return fw


def _wait_exit(fw: FirmwareProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while fw.running:
        assert time.monotonic() < deadline, fw.console[-2000:]
        time.sleep(0.05)


def test_authenticated_cmd_wipes_and_device_comes_back_unconfigured(
    firmware: Callable[..., FirmwareProcess], mosquitto: MosquittoProcess, hub_double: Callable[..., HubDouble],
) -> None:
    """factory_reset with the right MAC: files gone, reboot, the device reports it has no config."""
    device_id = f"fac-{secrets.token_hex(3)}"
    hub = hub_double(mosquitto.port)  # never answers: the press stays in the outbox
    fw = _with_pending_event(firmware, mosquitto.port, device_id)
    hub.send(device_id, fwupdate.factory_reset_command(KEY, device_id))
    fw.press()  # wake: the queued command arrives
    fw.wait("factory", "reset")
    _wait_exit(fw)
    for name in WIPED:
        assert not (fw.flash / name).exists(), name
    fw.restart()
    fw.wait("error", lambda d: d.startswith("config: no config file"))


def test_factory_reset_with_wrong_mac_is_ignored(
    firmware: Callable[..., FirmwareProcess], mosquitto: MosquittoProcess, hub_double: Callable[..., HubDouble],
) -> None:
    """A factory_reset signed with another key (or another device's MAC) changes nothing."""
    device_id = f"fac-{secrets.token_hex(3)}"
    hub = hub_double(mosquitto.port)
    fw = _with_pending_event(firmware, mosquitto.port, device_id)
    hub.send(device_id, fwupdate.factory_reset_command(secrets.token_bytes(32), device_id))
    hub.send(device_id, fwupdate.factory_reset_command(KEY, "someone-else"))
    fw.press()
    fw.wait("factory", "refused")
    fw.wait_count("factory", 2)
    assert fw.running and fw.count("factory", "reset") == 0
    for name in WIPED:
        assert (fw.flash / name).exists(), name


def test_long_hold_wipes(firmware: Callable[..., FirmwareProcess], mosquitto: MosquittoProcess) -> None:
    """Holding the button for 15 s (physical access) wipes the device too."""
    device_id = f"fac-{secrets.token_hex(3)}"
    fw = _with_pending_event(firmware, mosquitto.port, device_id)
    fw.press("factory")
    fw.wait("factory", "reset")
    _wait_exit(fw)
    for name in WIPED:
        assert not (fw.flash / name).exists(), name
