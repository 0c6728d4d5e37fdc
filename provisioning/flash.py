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


def mpremote_argv(port: str, files: dict[str, Path], reset: bool = True) -> list[str]:
    """One mpremote session (resume: no soft reset in between) that makes folders, copies, then resets."""
    dirs = sorted({str(Path(p).parent) for p in files if "/" in p})
    mkdirs = f"import os\nfor d in {dirs!r}:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass"
    argv = [mpremote_binary(), "connect", port, "resume", "exec", mkdirs]
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
def built_app(kind: str, march: str | None) -> Iterator[dict[str, Path]]:
    """Compile the firmware (mpy-cross) into a temp folder; yield the app's files (device path -> file)."""
    if kind not in fwbuild.APPS:
        raise FlashError(f"unknown device kind {kind!r}")
    with tempfile.TemporaryDirectory(prefix="restock-flash-") as tmp:
        try:
            bundles = fwbuild.build(Path(tmp), march=march)
        except fwbuild.CompileError as e:
            raise FlashError(f"compile failed: {e}") from e
        yield dict(bundles[kind].files)
