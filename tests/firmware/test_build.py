"""`restock firmware build`: every file compiles for the ESP32, bundles fit the budget, errors fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from provisioning import build as fwbuild
from provisioning.cli import firmware_app

BUDGET = 64 * 1024


def test_build_compiles_every_file_into_device_bundles(tmp_path: Path) -> None:
    bundles = fwbuild.build(tmp_path)
    assert set(bundles) == set(fwbuild.APPS)
    for app, bundle in bundles.items():
        assert (tmp_path / app / "main.py").is_file()
        assert (tmp_path / app / "lib" / "mqtt.mpy").is_file()
        assert not (tmp_path / app / "lib" / "board_sim.mpy").exists()
        assert 10_000 < bundle.mpy_bytes <= BUDGET, (app, bundle.mpy_bytes)
        header = (tmp_path / app / "lib" / "mqtt.mpy").read_bytes()[:4]
        assert header[0] == ord("M")
    assert (tmp_path / ".mpy" / "lib" / "board_sim.mpy").is_file()  # compiled, just not shipped


def broken_firmware(tmp_path: Path) -> Path:
    src = tmp_path / "firmware"
    shutil.copytree(fwbuild.FIRMWARE_DIR, src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "lib" / "zz_broken.py").write_text("def f(:\n    pass\n")
    return src


def test_build_fails_naming_the_file(tmp_path: Path) -> None:
    src = broken_firmware(tmp_path)
    with pytest.raises(fwbuild.CompileError) as err:
        fwbuild.build(tmp_path / "out", src)
    assert err.value.path.name == "zz_broken.py"
    assert "SyntaxError" in err.value.message


def test_cli_build_ok_and_failure_exit_code(tmp_path: Path) -> None:
    runner = CliRunner()
    app = typer.Typer()
    app.add_typer(firmware_app, name="firmware")  # as restock/cli.py mounts it: `restock firmware build`
    ok = runner.invoke(app, ["firmware", "build", "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    assert "dash_button" in ok.output
    bad = runner.invoke(app, ["firmware", "build", "--out", str(tmp_path / "bad"), "--source",
                                       str(broken_firmware(tmp_path))])
    assert bad.exit_code == 1
    assert "zz_broken.py" in bad.output and "SyntaxError" in bad.output
