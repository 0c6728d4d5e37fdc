"""Heap in use after boot, peak heap during one action, and .mpy bytes per device; prints a table.

Runs the real firmware (bytecode-compiled like on the device) under the Unix port against a private
mosquitto, with a hub double answering every event, in the two layouts a device can have:
- files: the .mpy modules on the device's filesystem (any MicroPython image): importing copies their
  bytecode into the heap;
- romfs: the same modules in a ROMFS image (`restock flash` deploys one when the image has a ROM
  partition): bytecode and constant strings run in place from flash; what stays in the heap is the
  modules' objects and names. The sim board reads the image into the heap (the Unix port cannot map a
  file), and every figure here leaves those bytes out, as on the ESP32 they are flash.
Figures, not assertions:
- heap after boot: gc.mem_alloc() after gc.collect() once the device has booted, connected and slept;
- peak, upper bound: GC off from just before the action until its feedback pattern was shown, so the
  heap at the start plus everything allocated meanwhile (garbage included) bounds the peak from above;
- smallest heap: the smallest `-X heapsize` (found to 1 KB) with which boot plus the action still complete
  twice: the heap the device really needs, fragmentation included.
The Unix port is 64-bit: objects take up to twice the room they take on the 32-bit ESP32, and a heap
block is 32 bytes instead of 16, so every heap figure here is pessimistic for the device. The sim board
itself (control channel, sockets) is in these figures; on the ESP32 its place is taken by board_esp32.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from provisioning import build as fwbuild
from tests.firmware.fwproc import FIRMWARE, FirmwareProcess, device_config, micropython_binary
from tests.firmware.hubdouble import HubDouble

DASH_PEAK_TARGET = 32 * 1024
# MicroPython interns names in pools of 20, 40, 80, 160, 320… entries: name 301 costs a whole new pool
# (320 entries, about 3.5 KB on 64-bit, 2 KB on the ESP32), so this column shows how close a device is.
QSTR_POOL_EDGE = 300
MPY_TARGET = 64 * 1024
LAYOUTS = ("files", "romfs")
Action = Callable[[FirmwareProcess], None]


def answer(device_id: str, event: dict[str, Any]) -> dict[str, Any]:
    code = {"press": "ordered", "scan": "in_cart", "level": "recorded"}[str(event["type"])]
    return {"type": "feedback", "seq": event["seq"], "code": code, "product": "Coffee beans 1 kg",
            "total": 1299, "currency": "EUR"}


def press(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.press("single")
    fw.wait("pattern", "ordered", since=m, timeout=8)


def scan(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.scan("4006381333931")
    fw.wait("pattern", "in_cart", since=m, timeout=8)


def reading(fw: FirmwareProcess) -> None:
    m = fw.mark()
    fw.command("level 500")
    fw.wait("feedback", since=m, timeout=8)
    fw.wait("sleep", since=m, timeout=8)
    m = fw.mark()
    fw.command("level 1000")  # back up, for the next reading to be a change again
    fw.wait("feedback", since=m, timeout=8)
    fw.wait("sleep", since=m, timeout=8)


DEVICES: dict[str, tuple[str, Action, dict[str, Any]]] = {
    "dash_button": ("press", press, {}),
    "barcode_wand": ("scan", scan, {"scan_idle_s": 0.3}),
    "appliance_sensor": ("reading", reading, {
        "sample_s": 0.3, "report_every_h": 24, "min_change": 0.05,
        "sensor": {"type": "hx711", "slot": "detergent", "full": 1000, "scale": 420, "offset": 8000}}),
}


@dataclass
class Build:
    """Compiled bytecode of every app, in both layouts."""

    out: Path
    images: dict[str, bytes] = field(default_factory=dict)  # app -> sim ROMFS image, built once

    def image(self, app: str) -> bytes:
        if app not in self.images:
            self.images[app] = fwbuild.sim_romfs_image(self.out, app)
        return self.images[app]

    def process(self, app: str, layout: str, work: Path, port: int, n: int) -> FirmwareProcess:
        cfg = DEVICES[app][2]
        rom = self.image(app) if layout == "romfs" else None
        code = self.out / ".mpy"
        return FirmwareProcess(
            app, work / f"{app}-{layout}-{n}",
            config=device_config(app, f"bench-{app.replace('_', '-')}-{n}", port, **cfg),
            sim={"level": 1000.0}, path=[code / "lib", code / app], main=FIRMWARE / app / "main.py", romfs=rom,
        )


def booted(fw: FirmwareProcess, heap: int | None = None) -> FirmwareProcess:
    """First boot (checks and keeps config.json), then a power cycle with the heap to measure: every wake
    from deep sleep is a boot on the ESP32, and this is what a normal one finds on flash."""
    fw.start()
    fw.wait("sleep", timeout=20)
    fw.kill()
    fw.heapsize = None if heap is None else str(heap)
    m = fw.mark()
    fw.restart()
    fw.wait("sleep", timeout=20, since=m)
    return fw


def fields(reply: str) -> dict[str, int]:
    return {k: int(v) for k, v in (kv.split("=") for kv in reply.split())}


@dataclass
class Row:
    app: str
    layout: str
    boot: int = 0
    peak: int = 0
    rom: int = 0  # heap bytes the sim board's copy of the ROM image takes (left out of every figure)
    smallest: int | None = None  # KB
    sim_board: int = 0
    names: int = 0  # interned strings (qstrs) after the actions


def measure(build: Build, row: Row, work: Path, port: int, runs: int) -> None:
    """Heap after boot and the worst upper bound of the peak over runs."""
    action = DEVICES[row.app][1]
    fw = booted(build.process(row.app, row.layout, work, port, 0))
    try:
        heap = fields(fw.command("heap"))
        row.boot, row.rom = heap["alloc"], heap["rom"]
        for _ in range(runs):
            fw.command("heap start")
            action(fw)
            row.peak = max(row.peak, fields(fw.command("heap stop"))["peak"])
        fw.command("heap")  # also prints micropython.qstr_info() to the console
        found = re.findall(r"n_qstr=(\d+)", fw.console)
        row.names = int(found[-1]) if found else 0
    finally:
        fw.kill()


def works_with(build: Build, row: Row, work: Path, port: int, kb: int) -> bool:
    """Boot plus the action twice with a heap of kb KB (plus the ROM image's copy)."""
    action = DEVICES[row.app][1]
    fw = build.process(row.app, row.layout, work, port, kb)
    try:
        booted(fw, kb * 1024 + row.rom)
        action(fw)
        action(fw)
        return True
    except (RuntimeError, TimeoutError):
        return False
    finally:
        fw.kill()


def smallest_heap(build: Build, row: Row, work: Path, port: int) -> None:
    """Binary search, to 1 KB, between the heap after boot (fails) and a comfortable size (works)."""
    lo, hi = row.boot // 1024, 4 * (row.peak // 1024 + 1)
    if not works_with(build, row, work, port, hi):
        return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if works_with(build, row, work, port, mid):
            hi = mid
        else:
            lo = mid
    row.smallest = hi


# Run as the main script: under firmware/lib/sim_romfs.py for the romfs layout, so modules come from the image.
SIM_SHARE = """
import gc
import log
gc.collect()
a = gc.mem_alloc()
import board_sim
b = board_sim.Board()
if PARTS:
    b._parts()  # loads the parts only the wand and the sensor use (board_sim_io)
gc.collect()
print("share", gc.mem_alloc() - a)
"""


def sim_board_share(build: Build, row: Row, work: Path) -> int:
    """Heap the sim board's modules and Board object take (board_esp32 takes their place on a device)."""
    flash = work / f"share-{row.app}-{row.layout}"
    flash.mkdir()
    script = flash / "share.py"
    script.write_text(f"PARTS = {row.app != 'dash_button'}\n" + SIM_SHARE)
    env = dict(os.environ, RESTOCK_SIM_FLASH=str(flash), RESTOCK_SIM_PORT=str(free_port()), MICROPYPATH=".frozen")
    cmd = [micropython_binary(), str(script)]
    if row.layout == "romfs":
        (flash / "romfs.img").write_bytes(build.image(row.app))
        cmd.insert(1, str(FIRMWARE / "lib" / "sim_romfs.py"))
    else:
        env["MICROPYPATH"] = f"{build.out / '.mpy' / 'lib'}:.frozen"
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split("share")[-1].split()[0])


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="actions per device (worst peak is shown)")
    parser.add_argument("--no-min-heap", action="store_true", help="skip the smallest-heap search")
    parser.add_argument("--device", choices=list(DEVICES), action="append", help="only these devices")
    parser.add_argument("--layout", choices=LAYOUTS, action="append", help="only these layouts")
    args = parser.parse_args()
    console = Console(width=150)
    rows: list[Row] = []
    mpy: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        work = Path(tmp)
        mpy = {app: bundle.mpy_bytes for app, bundle in fwbuild.build(work / "esp32").items()}
        # device-like: modules load as bytecode, never compiled at import (bytecode .mpy runs on any port)
        build = Build(work / "bytecode")
        fwbuild.build(build.out, march=None)
        broker = MosquittoProcess(MosquittoConfig(port=free_port(), data_dir=work / "mosquitto", persistence=False))
        broker.start()
        hub = HubDouble(broker.port, answer, client_id="bench-hub").start()
        try:
            for app in args.device or DEVICES:
                for layout in args.layout or LAYOUTS:
                    row = Row(app, layout)
                    measure(build, row, work, broker.port, args.runs)
                    row.sim_board = sim_board_share(build, row, work)
                    if not args.no_min_heap:
                        smallest_heap(build, row, work, broker.port)
                    rows.append(row)
                    console.print(f"measured {app} ({layout})", style="dim")
        finally:
            hub.stop()
            broker.stop()
    table = Table(title="firmware under the 64-bit Unix port (sim board); .mpy bytes for ESP32 (xtensawin)")
    for col in ("device", "action", "code in", "heap after boot", "peak (upper bound)", "smallest heap",
                "of which sim board", "interned names", ".mpy bytes"):
        table.add_column(col, justify="left" if col in ("device", "action", "code in") else "right")
    for row in rows:
        mark = ""
        if row.app == "dash_button" and row.smallest:
            mark = " ✓" if row.smallest * 1024 <= DASH_PEAK_TARGET else " ✗"
        size = mpy[row.app]
        table.add_row(row.app, DEVICES[row.app][0], row.layout, kb(row.boot), kb(row.peak),
                      f"{row.smallest} KB{mark}" if row.smallest else "n/a", kb(row.sim_board),
                      f"{row.names}" + (" (> 300)" if row.names > QSTR_POOL_EDGE else ""),
                      f"{size:,}" + (" ✓" if size <= MPY_TARGET else " ✗"))
    console.print(table)
    console.print("targets: dash button peak during a press <= 32 KB (the smallest heap bounds the peak from above "
                  "more tightly than GC-off does); lib + app <= 64 KB of .mpy per device. Heap figures are 64-bit and "
                  "include the sim board; ROMFS image bytes are left out (flash on the device). Interned names past 300 "
                  "cost a new 320-entry pool.", style="dim")


if __name__ == "__main__":
    main()
