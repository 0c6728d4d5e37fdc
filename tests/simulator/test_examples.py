"""The scenario files shipped with the package run as `restock sim run` against a real hub and broker, and a
failing step says in a line what it expected and what came, pointing at the device console's file."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pytest

from hub.broker.mosquitto import MosquittoProcess
from simulator.scenario import load
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.firmware, pytest.mark.broker, pytest.mark.slow]
RESTOCK = str(Path(sys.executable).parent / "restock")
EXAMPLES = sorted(p.name for p in files("simulator").joinpath("examples").iterdir() if p.name.endswith(".toml"))


def on_port(example: str, port: int, folder: Path) -> Path:
    """The example with its broker port pointed at the test's broker (the test broker takes any login)."""
    text = files("simulator").joinpath("examples", example).read_text()
    copy = folder / example
    copy.write_text(re.sub(r"(?m)^port = 1883$", f"port = {port}", text))
    return copy


def sim_run(scenario: Path, flash: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RESTOCK, "sim", "run", str(scenario), "--flash-dir", str(flash)], capture_output=True, text=True,
        timeout=180, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_the_package_ships_examples_for_every_app() -> None:
    folder = Path(str(files("simulator") / "examples"))
    apps = {device.app for name in EXAMPLES for device in load(folder / name).devices}
    assert apps == {"dash_button", "barcode_wand", "appliance_sensor"}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_scenario_runs(
    example: str, start_hub: Callable[..., HubServer], broker: MosquittoProcess, tmp_path: Path
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    scenario = on_port(example, broker.port, tmp_path)
    for device in load(scenario).devices:
        if device.app == "dash_button":
            add_button(api, device.id)
        else:
            api.ok("POST", "/api/v1/devices", json={"kind": device.app, "id": device.id})
    result = sim_run(scenario, tmp_path / "flash")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    steps = load(scenario).steps
    assert len(re.findall(r"(?m)^step \d+: ", out)) == len(steps), out
    for step in steps:
        if step.expect:
            assert f"{step.device} {step.do} → {step.expect}" in out, out


def test_a_failed_step_says_what_was_expected_and_what_came(
    start_hub: Callable[..., HubServer], broker: MosquittoProcess, tmp_path: Path
) -> None:
    server = start_hub()
    add_button(sign_up(server.url), "coffee-button")
    scenario = tmp_path / "wrong.toml"
    scenario.write_text(
        f'[broker]\nport = {broker.port}\n\n[[device]]\nid = "coffee-button"\napp = "dash_button"\n\n'
        '[[step]]\ndevice = "coffee-button"\ndo = "press"\nexpect = "ordered"\n\n'
        '[[step]]\ndevice = "coffee-button"\ndo = "press"\nexpect = "ordered"\ntimeout = 5\n'
    )
    result = sim_run(scenario, tmp_path / "flash")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    console = tmp_path / "flash" / "coffee-button.console.log"
    lines = out.strip().splitlines()
    assert lines[-2:] == [
        "step 2: coffee-button press: expected feedback 'ordered' within 5 s, came 'duplicate'",
        f"device console: {console}",
    ], out
    assert "<lambda>" not in out and console.exists()
