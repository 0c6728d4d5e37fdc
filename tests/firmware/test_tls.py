"""TLS from the firmware: it pins the bundled CA and refuses a certificate for another host or from another CA."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.broker.mosquitto import MosquittoProcess, free_port
from provisioning import pki
from tests.firmware.fwproc import FirmwareProcess, device_config
from tests.firmware.hubdouble import HubDouble

pytestmark = [pytest.mark.firmware, pytest.mark.broker]


def _tls_broker(factory: Callable[..., MosquittoProcess], paths: pki.PkiPaths) -> MosquittoProcess:
    return factory(persistence=False, tls_port=free_port(), cafile=paths.ca_cert, certfile=paths.server_cert,
                   keyfile=paths.server_key)


def _device(tmp_path: Path, broker: MosquittoProcess, ca: Path, host: str = "localhost") -> FirmwareProcess:
    device_id = f"tls-{secrets.token_hex(3)}"
    flash = tmp_path / f"{device_id}-flash"
    flash.mkdir()
    (flash / "ca.pem").write_bytes(ca.read_bytes())
    cfg = device_config("dash_button", device_id, 0, retry_s=30.0, timeout_s=2.0)
    cfg["broker"] = {"host": host, "port": broker.config.tls_port, "tls": True, "ca": "ca.pem"}
    return FirmwareProcess("dash_button", flash, config=cfg)


@pytest.fixture
def good_pki(tmp_path: Path) -> pki.PkiPaths:
    """CA + broker certificate for localhost."""
    paths = pki.PkiPaths(tmp_path / "pki")
    pki.init(paths, ["localhost"])
    return paths


def test_connects_over_tls_with_the_pinned_ca(tmp_path: Path, good_pki: pki.PkiPaths,
                                              mosquitto_factory: Callable[..., MosquittoProcess],
                                              hub_double: Callable[..., HubDouble]) -> None:
    """The right CA and host name: the session comes up and the status reaches the hub."""
    broker = _tls_broker(mosquitto_factory, good_pki)
    hub = hub_double(broker.port)
    fw = _device(tmp_path, broker, good_pki.ca_cert).start()
    try:
        fw.wait("connected")
        hub.wait_status(lambda s: s.get("online") is True)
    finally:
        fw.kill()


@pytest.mark.parametrize("case", ["wrong-host", "wrong-ca"])
def test_refuses_wrong_host_or_ca(tmp_path: Path, good_pki: pki.PkiPaths,
                                  mosquitto_factory: Callable[..., MosquittoProcess], case: str) -> None:
    """A certificate for another name, or a CA the device does not pin: no session, the handshake error logged."""
    if case == "wrong-host":
        other = pki.PkiPaths(tmp_path / "other")
        other.root.mkdir()
        for name in ("ca.pem", "ca.key"):
            (other.root / name).write_bytes((good_pki.root / name).read_bytes())
        pki.issue_server(other, ["broker.example"])  # same CA, certificate for another host
        broker, ca = _tls_broker(mosquitto_factory, other), good_pki.ca_cert
        expect = "CN"
    else:
        stranger = pki.PkiPaths(tmp_path / "stranger")
        pki.create_ca(stranger)
        broker, ca = _tls_broker(mosquitto_factory, good_pki), stranger.ca_cert
        expect = "not correctly signed"
    fw = _device(tmp_path, broker, ca).start()
    try:
        fw.wait("pattern", "offline")  # gave up on this wake
        assert fw.count("connected") == 0
        assert expect in fw.console, fw.console[-1500:]
    finally:
        fw.kill()
