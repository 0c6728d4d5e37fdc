"""The ROMFS layout: one image per device with every module, and firmware that boots and works from it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning import build as fwbuild
from tests.firmware.conftest import feedback_for
from tests.firmware.fwproc import FirmwareProcess, device_config, micropython_binary

pytestmark = [pytest.mark.firmware]

LIST_ROM = """
import vfs
with open({image!r}, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
import os
print(" ".join(sorted(os.listdir("/rom/lib"))))
"""


def test_image_holds_every_shipped_module(tmp_path: Path) -> None:
    bundles = fwbuild.build(tmp_path, march=None)
    for app, bundle in bundles.items():
        assert bundle.romfs is not None and bundle.romfs.is_file()
        env = dict(os.environ, MICROPYPATH=".frozen")
        out = subprocess.run([micropython_binary(), "-c", LIST_ROM.format(image=str(bundle.romfs))], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        shipped = sorted(Path(name).name for name in bundle.files if name != "main.py")
        assert out == shipped, app
        assert "board_sim.mpy" not in out  # the sim board is never on a device


@pytest.mark.broker
def test_dash_button_runs_from_romfs(tmp_path: Path, mosquitto, hub_double) -> None:
    fwbuild.build(tmp_path / "build", march=None)
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    image = fwbuild.sim_romfs_image(tmp_path / "build", "dash_button")
    fw = FirmwareProcess("dash_button", tmp_path / "flash", romfs=image,
                         config=device_config("dash_button", "btn-romfs", mosquitto.port))
    try:
        fw.start()
        fw.wait("sleep")
        m = fw.mark()
        fw.press("single")
        fw.wait("pattern", "ordered", since=m)
        assert [e["click"] for e in hub.wait_events(1)] == ["single"]
        heap = dict(kv.split("=") for kv in fw.command("heap").split())
        assert int(heap["rom"]) > 10_000  # the image is what the modules came from (no module path is set)
    finally:
        fw.kill()
