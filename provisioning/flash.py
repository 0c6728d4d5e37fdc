"""Put a device's firmware on it: MicroPython image (esptool), compiled modules and config (mpremote)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioning import build as fwbuild
from provisioning.bundle import device_files

IMAGE_OFFSET = 0x1000  # the ESP32 (not S2/S3/C3) MicroPython image starts after the first-stage loader
CHIP = "esp32"


class FlashError(Exception):
    """A flashing step failed; the message says which and why."""


@dataclass(frozen=True)
class Step:
    """One command of a flash run, with what to show while it runs."""

    label: str
    argv: list[str]


def serial_ports() -> list[str]:
    """The serial ports this machine has now, each with what pyserial knows of it (e.g. its USB bridge)."""
    from serial.tools import list_ports  # type: ignore[import-untyped]  # pyserial, under mpremote and esptool

    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        about = p.description if p.description and p.description not in ("n/a", p.device) else ""
        found.append(f"{p.device} ({about})" if about else p.device)
    return found


def check_port(port: str) -> None:
    """FlashError when `port` names a serial device that does not exist, listing the ports that do.

    mpremote and esptool report a missing port as one that may be in use by another program, which sends a
    maker looking for the wrong problem. Only names that can be checked are: paths (/dev/ttyUSB0, or a pty
    link) and Windows COM ports; anything else (rfc2217://, mpremote's short names) goes to the tools as is.
    """
    if "://" in port:
        return
    if "/" in port:
        missing = not Path(port).exists()
    elif re.fullmatch(r"COM\d+", port, re.IGNORECASE):
        missing = port.upper() not in {p.split(" ")[0].upper() for p in serial_ports()}
    else:
        return
    if missing:
        ports = serial_ports()
        seen = ", ".join(ports) if ports else "none (is the device plugged in, and its USB cable one for data?)"
        raise FlashError(f"serial port {port} does not exist; serial ports on this machine: {seen}")


def esptool_steps(port: str, image: Path, chip: str = CHIP, baud: int = 460800) -> list[Step]:
    """Erase the flash and write a MicroPython image; refuses a missing or empty image."""
    image = Path(image)
    if not image.is_file():
        raise FlashError(f"MicroPython image not found: {image}")
    if image.stat().st_size == 0:
        raise FlashError(f"MicroPython image is empty: {image}")
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    return [
        Step("erase flash", [*base, "erase-flash"]),
        Step(f"write {image.name}", [*base, "write-flash", "-z", hex(IMAGE_OFFSET), str(image)]),
    ]


def mpremote_binary() -> str:
    """mpremote next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "mpremote"
    found = str(here) if here.exists() else shutil.which("mpremote")
    if not found:
        raise FlashError("mpremote is not installed (pip install mpremote)")
    return found


def device_layout(app_files: dict[str, Path], bundle: Path) -> dict[str, Path]:
    """Device path -> local file: compiled lib and app from the build, config and CA from the bundle."""
    files = dict(app_files)
    files.update(device_files(bundle))
    return files


LAYOUTS = ("auto", "romfs", "files")
# Run on the device before copying. config.ok is the device's record of a checked config.json: new firmware
# checks it again. With the modules in ROMFS, .mpy files of an earlier flash would only waste flash.
_FORGET = """
try:
    os.remove('config.ok')
except OSError:
    pass
"""
_DROP_MPY = """
for d in ('.', 'lib'):
    try:
        names = os.listdir(d)
    except OSError:
        continue
    for n in names:
        if n.endswith('.mpy'):
            os.remove(d + '/' + n)
"""
_PROBE = """
import vfs
try:
    n = vfs.rom_ioctl(1)
except Exception:
    n = 0
print('romfs-segments', n)
"""


def has_romfs(port: str, timeout: float = 60) -> bool:
    """Whether the device's MicroPython has a ROM partition to deploy an image to (vfs.rom_ioctl)."""
    try:
        out = subprocess.run([mpremote_binary(), "connect", port, "resume", "exec", _PROBE], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FlashError("mpremote timed out asking the device about ROMFS") from None
    if out.returncode != 0:
        raise FlashError(f"mpremote exited {out.returncode}: {(out.stderr or out.stdout).strip()[-500:]}")
    m = re.search(r"romfs-segments (-?\d+)", out.stdout)
    return bool(m and int(m.group(1)) > 0)


def romfs_argv(port: str, image: Path) -> list[str]:
    """Write the modules' ROMFS image to the device's ROM partition (mpremote checks that it fits)."""
    return [mpremote_binary(), "connect", port, "resume", "romfs", "deploy", str(image)]


def mpremote_argv(port: str, files: dict[str, Path], reset: bool = True, romfs: bool = False) -> list[str]:
    """One mpremote session (resume: no soft reset in between) that makes folders, copies, then resets."""
    dirs = sorted({str(Path(p).parent) for p in files if "/" in p})
    mkdirs = f"import os\nfor d in {dirs!r}:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass"
    prepare = "\n".join([mkdirs, _FORGET] + ([_DROP_MPY] if romfs else []))
    argv = [mpremote_binary(), "connect", port, "resume", "exec", prepare]
    for dev_path in sorted(files):
        argv += ["+", "fs", "cp", str(files[dev_path]), f":{dev_path}"]
    if reset:
        argv += ["+", "reset"]
    return argv


_CP_LINE = re.compile(r"^cp (\S+) :(\S+)")


def run_mpremote(argv: list[str], on_copied: Callable[[str], None] | None = None, timeout: float = 600) -> None:
    """Run mpremote, reporting each copied file (from its 'cp … :path' lines); FlashError on failure."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output: list[str] = []
    for line in proc.stdout:
        output.append(line)
        m = _CP_LINE.match(line.strip())
        if m and on_copied is not None:
            on_copied(m.group(2))
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise FlashError("mpremote timed out") from None
    if code != 0:
        raise FlashError(f"mpremote exited {code}: {''.join(output[-20:]).strip()}")


@contextmanager
def built_bundle(kind: str, march: str | None) -> Iterator[fwbuild.Bundle]:
    """Compile the firmware (mpy-cross) into a temp folder; yield the app's bundle (files and ROMFS image)."""
    if kind not in fwbuild.APPS:
        raise FlashError(f"unknown device kind {kind!r}")
    with tempfile.TemporaryDirectory(prefix="restock-flash-") as tmp:
        try:
            bundles = fwbuild.build(Path(tmp), march=march)
        except fwbuild.CompileError as e:
            raise FlashError(f"compile failed: {e}") from e
        yield bundles[kind]


@contextmanager
def built_app(kind: str, march: str | None) -> Iterator[dict[str, Path]]:
    """The app's files (device path -> compiled file) of a fresh build."""
    with built_bundle(kind, march) as bundle:
        yield dict(bundle.files)
