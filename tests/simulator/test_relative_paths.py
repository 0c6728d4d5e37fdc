"""Relative paths given by a user work: each firmware process runs inside its own flash folder (its cwd)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.broker.mosquitto import MosquittoProcess
from simulator.firmware import FirmwareProcess, device_config
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.firmware, pytest.mark.broker, pytest.mark.slow]
RESTOCK = str(Path(sys.executable).parent / "restock")


def test_firmware_process_with_a_relative_flash_folder_reads_its_config(
    broker: MosquittoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fw = FirmwareProcess("dash_button", Path("relflash/rel-button"),
                         config=device_config("dash_button", "rel-button", broker.port))
    try:
        fw.start()
        fw.wait("connected", timeout=20)
    finally:
        fw.kill()
    assert (tmp_path / "relflash" / "rel-button" / "config.json").exists()
    assert "no config file" not in fw.console


def test_sim_run_with_a_relative_flash_dir(
    start_hub: Callable[..., HubServer], broker: MosquittoProcess, tmp_path: Path
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    secret = add_button(api, "rel-button")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "morning.toml").write_text(
        f'[broker]\nport = {broker.port}\n\n'
        f'[[device]]\nid = "rel-button"\napp = "dash_button"\nsecret = "{secret}"\n\n'
        '[[step]]\ndevice = "rel-button"\ndo = "press"\nexpect = "ordered"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOCK_")}
    result = subprocess.run(
        [RESTOCK, "sim", "run", "morning.toml", "--flash-dir", "relflash"],
        cwd=scratch, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "step 1: rel-button press → ordered" in result.stdout
    assert (scratch / "relflash" / "rel-button" / "config.json").exists()
    assert [(o["device_id"], o["status"]) for o in api.ok("GET", "/api/v1/orders")] == [("rel-button", "pending")]
