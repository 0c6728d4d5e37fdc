"""What `restock flash` and `restock device add` tell a maker: a missing serial port, the default broker host."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from serial.tools import list_ports
from typer.testing import CliRunner

from provisioning import flash as fwflash
from restock.cli import app


def _bundle(root: Path, device_id: str = "btn-port") -> Path:
    """A bundle folder as `device add` leaves it, as far as `flash` reads it before the device."""
    folder = root / device_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"device_id": device_id, "kind": "dash_button"}))
    return root


def test_flash_to_a_missing_port_says_it_does_not_exist_and_lists_the_ports(tmp_path: Path) -> None:
    bundles = _bundle(tmp_path / "devices")
    missing = str(tmp_path / "ttyUSB7")
    result = CliRunner().invoke(app, ["flash", "btn-port", "--port", missing, "--bundles", str(bundles),
                                      "--layout", "files"], env={"RESTOCK_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1, result.output
    message = result.output.strip()
    assert "\n" not in message, message  # one line
    assert f"serial port {missing} does not exist" in message
    assert "in use by another program" not in message
    here = sorted(p.device for p in list_ports.comports())
    for device in here:
        assert device in message
    if not here:
        assert "none" in message


def test_check_port_lets_existing_and_unchecked_names_through(tmp_path: Path) -> None:
    pty_link = tmp_path / "tty"  # a pty's symlink, as socat makes for the firmware tests
    pty_link.write_text("")
    fwflash.check_port(str(pty_link))
    fwflash.check_port("rfc2217://localhost:4000")  # a network port: the tools judge it
    fwflash.check_port("u0")  # mpremote's short name for /dev/ttyUSB0
    with pytest.raises(fwflash.FlashError, match="COM99 does not exist"):
        fwflash.check_port("COM99")


def test_device_add_says_the_broker_host_is_this_machine_and_how_to_change_it(tmp_path: Path) -> None:
    env = {"RESTOCK_DATA_DIR": str(tmp_path), "RESTOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'restock.db'}",
           "RESTOCK_BROKER_HOST": None}
    runner = CliRunner()
    added = runner.invoke(app, ["device", "add", "--kind", "dash_button", "--id", "btn-host", "--wifi-ssid", "home",
                                "--no-tls"], env=env)
    assert added.exit_code == 0, added.output
    config = json.loads((tmp_path / "devices" / "btn-host" / "config.json").read_text())
    assert config["broker"]["host"] == socket.gethostname()
    line = next(ln for ln in added.output.splitlines() if "this machine's name" in ln)
    assert repr(socket.gethostname()) in line and "--broker-host" in line and "RESTOCK_BROKER_HOST" in line
    # A host given on purpose needs no such note.
    chosen = runner.invoke(app, ["device", "add", "--kind", "dash_button", "--id", "btn-chosen", "--wifi-ssid",
                                 "home", "--no-tls", "--broker-host", "hub.local"], env=env)
    assert chosen.exit_code == 0, chosen.output
    assert "this machine's name" not in chosen.output
