"""Each app's manifest.py names exactly what its device needs: every module it imports, nothing sim-only."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from provisioning import build as fwbuild

FIRMWARE = fwbuild.FIRMWARE_DIR
LIB = FIRMWARE / "lib"
# What only the Unix port runs: the sim board (board.py picks it off the ESP32) and the sim's ROMFS loader.
SIM_ONLY = {"board_sim", "board_sim_io", "sim_romfs"}


def imported(src: Path) -> set[str]:
    """Top-level names of every import in a file, function-local ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def needed(app: str) -> set[Path]:
    """The app's own modules and every firmware module they import, transitively, on the ESP32."""
    app_dir = FIRMWARE / app
    todo = [p for p in app_dir.glob("*.py") if p.name != fwbuild.MANIFEST]
    seen: set[Path] = set()
    while todo:
        src = todo.pop().resolve()
        if src in seen:
            continue
        seen.add(src)
        for name in imported(src) - SIM_ONLY:  # others are MicroPython's own (machine, gc, json ...)
            found = [p for p in (app_dir / f"{name}.py", LIB / f"{name}.py") if p.is_file()]
            todo += found[:1]
    return seen


@pytest.mark.parametrize("app", fwbuild.APPS)
def test_manifest_names_exactly_the_imported_modules(app: str) -> None:
    shipped = fwbuild.manifest(app)
    assert len(shipped) == len(set(shipped)), "a module named twice"
    assert all(p.is_file() for p in shipped)
    missing = needed(app) - set(shipped)
    assert not missing, f"{app} imports modules its manifest.py does not ship: {sorted(p.name for p in missing)}"
    unused = set(shipped) - needed(app)
    assert not unused, f"{app}'s manifest.py ships modules nothing imports: {sorted(p.name for p in unused)}"
    assert not {p.stem for p in shipped} & SIM_ONLY


def test_build_ships_what_the_manifest_names_and_no_sim_module(tmp_path: Path) -> None:
    bundles = fwbuild.build(tmp_path, march=None)
    for app, bundle in bundles.items():
        app_dir = FIRMWARE / app
        assert set(bundle.files) == {fwbuild.device_path(p, app_dir) for p in fwbuild.manifest(app)}
        on_disk = {p.relative_to(tmp_path / app).as_posix() for p in (tmp_path / app).rglob("*") if p.is_file()}
        assert on_disk == set(bundle.files)
        assert not {Path(n).stem for n in on_disk} & (SIM_ONLY | {"manifest"})


def copy_firmware(tmp_path: Path) -> Path:
    src = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, src, ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.mark.parametrize(("line", "error"), [
    ('module("nothere.py", base_path="../lib")', "../lib/nothere.py does not exist"),
    ('import os', "only module(...) and include(...)"),
    ('include("../nowhere/manifest.py")', "../nowhere/manifest.py does not exist"),
    ('include("manifest.py")', "manifest.py includes itself"),
    ('include(path)', 'write include("dir/manifest.py")'),
    ('module(name)', 'write module("x.py")'),
    ('module("log.py", base_path="../lib", opt=3)', 'write module("x.py")'),
])
def test_a_bad_manifest_fails_the_build_naming_it(tmp_path: Path, line: str, error: str) -> None:
    src = copy_firmware(tmp_path)
    manifest = src / "barcode_wand" / "manifest.py"
    manifest.write_text(manifest.read_text() + line + "\n")
    with pytest.raises(fwbuild.ManifestError) as err:
        fwbuild.build(tmp_path / "out", src, march=None)
    assert err.value.path == manifest
    assert error in err.value.message


def test_a_module_left_out_of_the_manifest_is_not_shipped(tmp_path: Path) -> None:
    src = copy_firmware(tmp_path)
    manifest = src / "dash_button" / "manifest.py"
    shared = 'include("../lib/manifest.py")'
    lines = (src / "lib" / "manifest.py").read_text().splitlines()
    lib = [line.replace('module("', 'module("../lib/') for line in lines
           if line.startswith("module(") and "setup.py" not in line]
    manifest.write_text(manifest.read_text().split(shared)[0] + "\n".join(lib) + "\n")
    bundles = fwbuild.build(tmp_path / "out", src, march=None)
    assert "lib/setup.mpy" not in bundles["dash_button"].files
    assert "lib/link.mpy" in bundles["dash_button"].files
    assert "lib/setup.mpy" in bundles["barcode_wand"].files


def test_every_app_ships_the_shared_lib_through_one_manifest() -> None:
    shared = fwbuild.manifest("dash_button")
    for app in fwbuild.APPS:
        lib = [p for p in fwbuild.manifest(app) if p.parent.name == "lib"]
        assert lib == [p for p in shared if p.parent.name == "lib"]
        assert lib and not any(p.name == "manifest.py" for p in fwbuild.manifest(app))
