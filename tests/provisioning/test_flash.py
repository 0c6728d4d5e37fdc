"""`restock device add` + `restock flash` against the MicroPython Unix port through a pty, then boot what landed."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioning import flash as fwflash
from restock.cli import app
from tests.firmware.fwproc import FIRMWARE, FirmwareProcess, micropython_binary
from tests.provisioning.conftest import GeneratedBroker
from tests.provisioning.mqttclient import Client


@pytest.fixture
def unix_port_on_pty(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The Unix port's REPL behind a pty (socat), with a fresh folder as its filesystem root (cwd)."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install -y socat)")
    root = tmp_path / "device-fs"
    root.mkdir()
    link = tmp_path / "tty"
    proc = subprocess.Popen(
        ["socat", f"PTY,link={link},raw,echo=0",
         f"EXEC:{micropython_binary()},pty,raw,echo=0,setsid,ctty"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not link.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "socat did not create the pty"
        time.sleep(0.05)
    yield str(link), root
    proc.terminate()
    proc.wait(5)


def _env(gb: GeneratedBroker) -> dict[str, str]:
    return {"RESTOCK_DATA_DIR": str(gb.data_dir), "RESTOCK_DATABASE_URL": f"sqlite:///{gb.data_dir / 'restock.db'}"}


@pytest.mark.firmware
@pytest.mark.broker
@pytest.mark.slow
def test_flash_lands_files_and_firmware_boots_with_its_config(
    generated_broker: GeneratedBroker, unix_port_on_pty: tuple[str, Path], tmp_path: Path
) -> None:
    """device add (credentials into mosquitto) → flash over mpremote → the landed firmware logs in and reports."""
    gb = generated_broker
    pty, root = unix_port_on_pty
    runner = CliRunner()
    added = runner.invoke(app, ["device", "add", "--kind", "dash_button", "--name", "Hall", "--id", "btn-hall",
                                "--wifi-ssid", "sim-home", "--broker-host", "127.0.0.1",
                                "--broker-port", str(gb.port), "--no-tls"], env=_env(gb))
    assert added.exit_code == 0, added.output
    assert "claim code" in added.output
    (root / "config.ok").write_text("stale check of an older firmware")
    refused = runner.invoke(app, ["flash", "btn-hall", "--port", pty, "--no-reset", "--layout", "romfs"], env=_env(gb))
    assert refused.exit_code == 1 and "no ROM partition" in refused.output, refused.output
    flashed = runner.invoke(app, ["flash", "btn-hall", "--port", pty, "--no-reset"], env=_env(gb))
    assert flashed.exit_code == 0, flashed.output
    assert "modules as files" in flashed.output  # the Unix port has no ROM partition: auto falls back
    assert not (root / "config.ok").exists()  # new firmware checks config.json again
    landed = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"main.py", "dash.mpy", "config.json", "lib/link.mpy", "lib/fwslot.mpy"} <= landed
    assert not any(name.startswith("claim") for name in landed)  # the claim code stays off the device
    bundle = json.loads((gb.data_dir / "devices" / "btn-hall" / "config.json").read_text())
    assert json.loads((root / "config.json").read_text()) == bundle
    hub = Client(gb.port, "_hub", gb.hub_password)
    assert hub.connect() == 0
    hub.subscribe("restock/v1/+/status")
    # board_sim is never shipped to a device, so it (only) comes from the source tree; everything else is
    # what landed: the flashed lib/ and app go first on the path.
    fw = FirmwareProcess("dash_button", root, path=[root / "lib", root, FIRMWARE / "lib"], main=root / "main.py")
    fw.start()
    try:
        fw.wait("connected")
        status = json.loads(hub.wait_message("restock/v1/btn-hall/status"))
        assert status["online"] is True and status["kind"] == "dash_button"
    finally:
        fw.kill()
        hub.close()


def test_esptool_steps_erase_then_write_at_0x1000(tmp_path: Path) -> None:
    """The image step: erase-flash, then write-flash -z 0x1000 <image> on the given port and chip."""
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(1023))
    steps = fwflash.esptool_steps("/dev/ttyUSB0", image)
    assert [s.argv[-1] for s in steps][0] == "erase-flash"
    for step in steps:
        assert step.argv[1:3] == ["-m", "esptool"]
        assert step.argv[step.argv.index("--chip") + 1] == "esp32"
        assert step.argv[step.argv.index("--port") + 1] == "/dev/ttyUSB0"
    assert steps[1].argv[-4:] == ["write-flash", "-z", "0x1000", str(image)]


def test_flash_refuses_a_missing_image(generated_broker: GeneratedBroker, tmp_path: Path) -> None:
    """A missing image fails with a clear message and exit code 1, before touching the device."""
    gb = generated_broker
    runner = CliRunner()
    added = runner.invoke(app, ["device", "add", "--kind", "dash_button", "--id", "btn-img", "--wifi-ssid", "x",
                                "--broker-host", "127.0.0.1", "--no-tls"], env=_env(gb))
    assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["flash", "btn-img", "--port", "/dev/null-port", "--image",
                                 str(tmp_path / "nope.bin")], env=_env(gb))
    assert result.exit_code == 1
    assert "MicroPython image not found" in result.output
    with pytest.raises(fwflash.FlashError, match="empty"):
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        fwflash.esptool_steps("/dev/ttyUSB0", empty)


def test_flash_without_a_bundle_exits_2(tmp_path: Path) -> None:
    """An unknown device: no bundle, exit code 2."""
    env = {"RESTOCK_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["flash", "nobody", "--port", "/dev/null"], env=env)
    assert result.exit_code == 2 and "no config bundle" in result.output
