"""A build ships log.DEBUG off, as .mpy files and in the ROMFS image; the source keeps it on for the sim."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning import build as fwbuild
from tests.firmware.fwproc import micropython_binary

pytestmark = [pytest.mark.firmware]

FROM_FILES = "import log\nprint('DEBUG', log.DEBUG)\n"
FROM_ROMFS = """
import sys, vfs
with open({image!r}, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
sys.path[:0] = ["/rom/lib"]
import log
print("DEBUG", log.DEBUG, log.__file__)
"""


def run(code: str, path: str = "") -> str:
    env = dict(os.environ, MICROPYPATH=":".join(p for p in (path, ".frozen") if p))
    return subprocess.run([micropython_binary(), "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout


def test_built_log_has_debug_off(tmp_path: Path) -> None:
    bundles = fwbuild.build(tmp_path, march=None)
    for app, bundle in bundles.items():
        assert run(FROM_FILES, str(tmp_path / app / "lib")).split() == ["DEBUG", "False"], app
        assert bundle.romfs is not None
        assert run(FROM_ROMFS.format(image=str(bundle.romfs))).split() == ["DEBUG", "False", "/rom/lib/log.mpy"]
    assert run(FROM_FILES, str(fwbuild.FIRMWARE_DIR / "lib")).split() == ["DEBUG", "True"]  # the source


def test_debug_build_keeps_it_on(tmp_path: Path) -> None:
    fwbuild.build(tmp_path, march=None, debug=True)
    assert run(FROM_FILES, str(tmp_path / "dash_button" / "lib")).split() == ["DEBUG", "True"]


def test_a_log_without_the_switch_line_fails_the_build(tmp_path: Path) -> None:
    src = tmp_path / "log.py"
    src.write_text("DEBUG = 1\n")
    with pytest.raises(fwbuild.CompileError) as err:
        fwbuild.release_log(src, tmp_path / "out")
    assert "DEBUG = True" in err.value.message
