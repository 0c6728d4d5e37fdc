"""Heap in use after boot, peak heap during one action, and .mpy bytes per device; prints a table.

Runs the real firmware (bytecode-compiled like on the device) under the Unix port against a private
mosquitto, with a hub double answering every event. Figures, not assertions:
- heap after boot: gc.mem_alloc() after gc.collect() once the device has booted, connected and slept;
- peak during action: GC off from just before the action until its feedback pattern was shown, so
  base + everything allocated meanwhile is an upper bound on the live heap at any moment;
- code in heap: what importing the app's modules (.mpy from the filesystem) costs; frozen modules or a
  ROMFS image run the bytecode from flash instead, so "peak excl. code" is the figure for such a build;
- smallest heap: the smallest `-X heapsize` (KB, in steps) with which the action still completes.
The Unix port is 64-bit: objects and bytecode tables take up to twice the room they take on the
32-bit ESP32, so every heap figure here is pessimistic for the device.
The sim board itself (control channel, sockets) is in these figures; on the ESP32 its place is taken
by the smaller board_esp32, so the device numbers are a little lower.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from provisioning import build as fwbuild
from tests.firmware.fwproc import FIRMWARE, FirmwareProcess, device_config, micropython_binary
from tests.firmware.hubdouble import HubDouble

DASH_PEAK_TARGET = 32 * 1024
MPY_TARGET = 64 * 1024
Action = Callable[[FirmwareProcess], None]


def answer(device_id: str, event: dict[str, Any]) -> dict[str, Any]:
    code = {"press": "ordered", "scan": "in_cart", "level": "recorded"}[str(event["type"])]
    return {"type": "feedback", "seq": event["seq"], "code": code, "product": "Coffee beans 1 kg",
            "total": 1299, "currency": "EUR"}


def press(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "ordered", since=m)


def scan(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.scan("4006381333931")
    fw.wait("pattern", "in_cart", since=m)


def reading(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.command("level 500")
    fw.wait("feedback", since=m)
    fw.wait("sleep", since=m)


DEVICES: dict[str, tuple[str, Action, dict[str, Any]]] = {
    "dash_button": ("press", press, {}),
    "barcode_wand": ("scan", scan, {"scan_idle_s": 0.3}),
    "appliance_sensor": ("reading", reading, {
        "sample_s": 0.3, "report_every_h": 24, "min_change": 0.05,
        "sensor": {"type": "hx711", "slot": "detergent", "full": 1000, "scale": 420, "offset": 8000}}),
}


def start(app: str, work: Path, code: Path, port: int, cfg: dict[str, Any], n: int,
          heapsize: str | None = None) -> FirmwareProcess:
    fw = FirmwareProcess(
        app, work / f"{app}-{n}", config=device_config(app, f"bench-{app.replace('_', '-')}-{n}", port, **cfg),
        sim={"level": 1000.0}, heapsize=heapsize, path=[code / "lib", code / app], main=FIRMWARE / app / "main.py",
    )
    fw.start()
    fw.wait("sleep", timeout=20)
    return fw


def measure(app: str, work: Path, code: Path, port: int, runs: int) -> tuple[int, int]:
    """(heap after boot, worst peak over runs) in bytes."""
    _, action, cfg = DEVICES[app]
    fw = start(app, work, code, port, cfg, 0)
    try:
        boot = int(fw.command("heap").split()[0].split("=")[1])
        peak = 0
        for _ in range(runs):
            fw.command("heap start")
            action(fw)
            fields = dict(kv.split("=") for kv in fw.command("heap stop").split())
            peak = max(peak, int(fields["peak"]))
            if app == "appliance_sensor":
                fw.command("level 1000")  # back up, for the next reading to be a change again
                fw.wait("feedback", since=fw.mark())
        return boot, peak
    finally:
        fw.kill()


def code_heap(app: str, code: Path) -> int:
    """Heap taken by importing every module of the app (sim board included) from bytecode."""
    skip = ("main", "board_esp32", "setup")  # not imported on the sim board during normal operation
    mods = [p.stem for d in (code / "lib", code / app) for p in sorted(d.glob("*.mpy")) if p.stem not in skip]
    script = (
        "import gc\ngc.collect()\na = gc.mem_alloc()\n"
        f"for m in {mods!r}:\n    __import__(m)\ngc.collect()\nprint(gc.mem_alloc() - a)\n"
    )
    env = dict(os.environ, MICROPYPATH=f"{code / 'lib'}:{code / app}:.frozen")
    out = subprocess.run([micropython_binary(), "-c", script], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def smallest_heap(app: str, work: Path, code: Path, port: int, steps: list[int]) -> int | None:
    """Smallest heap (KB) from steps with which boot plus one action complete."""
    _, action, cfg = DEVICES[app]
    best = None
    for i, kb in enumerate(sorted(steps, reverse=True)):
        try:
            fw = start(app, work, code, port, cfg, 100 + i, heapsize=f"{kb}K")
        except (RuntimeError, TimeoutError):
            break
        try:
            action(fw)
            best = kb
        except (RuntimeError, TimeoutError):
            break
        finally:
            fw.kill()
    return best


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="actions per device (worst peak is shown)")
    parser.add_argument("--no-min-heap", action="store_true", help="skip the smallest-heap search")
    args = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        work = Path(tmp)
        esp32 = fwbuild.build(work / "esp32")
        fwbuild.build(work / "bytecode", march=None)
        code = work / "bytecode" / ".mpy"  # device-like: modules load as bytecode, not compiled at import
        broker = MosquittoProcess(MosquittoConfig(port=free_port(), data_dir=work / "mosquitto", persistence=False))
        broker.start()
        hub = HubDouble(broker.port, answer, client_id="bench-hub").start()
        rows = []
        try:
            for app, (what, _, _) in DEVICES.items():
                boot, peak = measure(app, work, code, broker.port, args.runs)
                small = None if args.no_min_heap else smallest_heap(
                    app, work, code, broker.port, [160, 128, 112, 96, 88, 80, 72, 64, 56, 48])
                rows.append((app, what, boot, peak, code_heap(app, code), small, esp32[app].mpy_bytes))
                console.print(f"measured {app}", style="dim")
        finally:
            hub.stop()
            broker.stop()
    table = Table(title="firmware under the 64-bit Unix port (sim board); .mpy bytes for ESP32 (xtensawin)")
    for col in ("device", "action", "heap after boot", "peak during action", "code in heap",
                "peak excl. code", "smallest heap", ".mpy bytes"):
        table.add_column(col, justify="left" if col in ("device", "action") else "right")
    for app, what, boot, peak, code_b, small, mpy in rows:
        data_peak = peak - code_b
        data_txt = f"{data_peak / 1024:.1f} KB"
        if app == "dash_button":
            data_txt += " ✓" if data_peak <= DASH_PEAK_TARGET else " ✗"
        table.add_row(app, what, f"{boot / 1024:.1f} KB", f"{peak / 1024:.1f} KB", f"{code_b / 1024:.1f} KB",
                      data_txt, f"{small} KB" if small else "n/a", f"{mpy:,}" + (" ✓" if mpy <= MPY_TARGET else " ✗"))
    console.print(table)
    console.print("targets: dash button peak <= 32 KB (excl. code, i.e. frozen/ROMFS build); lib + app <= 64 KB "
                  ".mpy per device. Heap figures include the sim board and 64-bit object sizes.", style="dim")


if __name__ == "__main__":
    main()
